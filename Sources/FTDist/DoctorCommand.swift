import ArgumentParser
import Distributed
import Foundation

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the MPI launch: ranks, hosts, exact all-reduce/broadcast/gather, all-reduce speed.",
        discussion: "Run it the way you run training, e.g. `mpirun -np 2 ft-dist doctor` or launch/hostfile.sh HOSTFILE 2 doctor.")

    @Option(help: "Floats in the timed all-reduce.") var floats = 1 << 22
    @Flag(help: "Print the result as JSON (rank 0).") var json = false

    func run() throws {
        try runReportingErrors {
            let comm = try makeCommunicator()
            let result = try CollectiveCheck.run(comm, floats: floats)
            if comm.isRoot {
                if json {
                    let e = JSONEncoder()
                    e.outputFormatting = [.sortedKeys]
                    print(String(decoding: try e.encode(result), as: UTF8.self))
                } else {
                    print("ranks: \(result.size) over \(result.transport)")
                    for (r, h) in result.hosts.enumerated() { print("  rank \(r) on \(h)") }
                    print("all-reduce: \(result.allReduceCorrect ? "exact" : "WRONG"), broadcast: \(result.broadcastCorrect ? "ok" : "WRONG"), gather: \(result.gatherCorrect ? "ok" : "WRONG")")
                    print(String(format: "all-reduce of %d floats: %.4f s (%.2f GB/s of payload)", result.allReduceFloats,
                                 result.allReduceSeconds, Double(result.allReduceFloats * 4) / result.allReduceSeconds / 1e9))
                }
            }
            comm.finalize()
            if !(result.allReduceCorrect && result.broadcastCorrect && result.gatherCorrect) { throw ExitCode(1) }
        }
    }
}
