import ArgumentParser
import Train

/// How a training step is computed — exact either way. Shared by `train` and `bench`, so the
/// benchmark times the step that training runs.
struct StepOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Compute the prompt prefix shared by a shard's examples once (exact).")
    var sharePrefix = TrainingOptions.recipe.sharePrefix
    @Flag(inversion: .prefixedNo, help: "Under mpirun, reduce gradients between the ranks of a host through shared memory, each rank updating one slice of the weights (exact); --no-host-shared-memory uses MPI_Allreduce and a full AdamW on every rank.")
    var hostSharedMemory = TrainingOptions.recipe.hostSharedMemory

    func apply(to o: inout TrainingOptions) {
        o.sharePrefix = sharePrefix
        o.hostSharedMemory = hostSharedMemory
    }
}
