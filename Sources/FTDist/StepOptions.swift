import ArgumentParser
import Train

/// How a training step is computed — exact either way. Shared by `train` and `bench`, so the
/// benchmark times the step that training runs.
struct StepOptions: ParsableArguments {
    @Flag(inversion: .prefixedNo, help: "Compute the prompt prefix shared by a shard's examples once (exact).")
    var sharePrefix = TrainingOptions.recipe.sharePrefix
    @Flag(inversion: .prefixedNo, help: "Under mpirun, reduce gradients between the ranks of a host through shared memory, each rank updating one slice of the weights (exact); --no-host-shared-memory uses MPI_Allreduce and a full AdamW on every rank.")
    var hostSharedMemory = TrainingOptions.recipe.hostSharedMemory
    @Flag(inversion: .prefixedNo, help: "Under mpirun, cut each global batch between the ranks by estimated work (tokens through the blocks, labels through the head) instead of into contiguous parts of equal count, so no rank waits long for a slower one (exact).")
    var balanceShards = TrainingOptions.recipe.balanceShards

    func apply(to o: inout TrainingOptions) {
        o.sharePrefix = sharePrefix
        o.hostSharedMemory = hostSharedMemory
        o.balanceShards = balanceShards
    }
}
