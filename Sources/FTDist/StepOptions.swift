import ArgumentParser
import Distributed
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
    @Option(help: "When to reduce the gradients while the backward pass continues: a communication thread takes each layer's gradients (and first the tied embedding's, 63% of them) as soon as they are final — summed over the host's shared memory, then around a ring between hosts. 'hosts': when the ranks span several hosts (the link works while the cores compute; on one host the sum would only take the backward's cores); 'always'; 'never': after the whole backward. Exact up to summation order (the input-embedding rows are summed apart; with 3+ hosts the ring's segments fall elsewhere). Only the last pass of a shard overlaps when a long shard is cut into several passes.")
    var overlap: OverlapMode = TrainingOptions.recipe.overlap
    @Flag(help: "Reduce after the whole backward pass (--overlap never), for comparison.")
    var noOverlap = false
    @Option(help: "How gradients travel between hosts: fp32 (exact) or bf16 (half the bytes: each hop of the ring rounds the partial sums to bf16 and adds them in fp32, like DDP's bf16_compress_hook; not exact, so off by default). No effect on one host.")
    var interHostDtype: RingAllReduce.Wire = TrainingOptions.recipe.interHostDType

    func apply(to o: inout TrainingOptions) {
        o.sharePrefix = sharePrefix
        o.hostSharedMemory = hostSharedMemory
        o.balanceShards = balanceShards
        o.overlap = noOverlap ? .never : overlap
        o.interHostDType = interHostDtype
    }
}

extension RingAllReduce.Wire: ExpressibleByArgument {}
extension OverlapMode: ExpressibleByArgument {}
