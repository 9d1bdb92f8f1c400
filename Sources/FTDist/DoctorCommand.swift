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

    func validate() throws {
        // 2^28 floats: a 1 GB buffer, several times the 270M model's whole gradient
        guard (1...(1 << 28)).contains(floats) else { throw ValidationError("--floats must be between 1 and \(1 << 28)") }
    }

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
                    print("all-reduce: \(result.allReduceCorrect ? "exact" : "WRONG"), broadcast: \(result.broadcastCorrect ? "ok" : "WRONG"), gather: \(result.gatherCorrect ? "ok" : "WRONG")"
                          + (result.ringAllReduceCorrect.map { ", ring all-reduce: \($0 ? "exact" : "WRONG")" } ?? "")
                          + (result.ringGatherCorrect.map { ", ring all-gather: \($0 ? "exact" : "WRONG")" } ?? ""))
                    print(String(format: "all-reduce of %ld floats: %.6f s (%.2f GB/s of payload)", result.allReduceFloats,
                                 result.allReduceSeconds, Double(result.allReduceFloats * 4) / max(result.allReduceSeconds, 1e-9) / 1e9))
                    if let ring = result.ringAllReduceSeconds {
                        print(String(format: "ring all-reduce (the overlapped exchange's, between hosts) of the same floats: %.6f s (%.2f GB/s of payload), %.2f CPU s on rank 0",
                                     ring, Double(result.allReduceFloats * 4) / max(ring, 1e-9) / 1e9, result.ringCPUSeconds ?? 0))
                    }
                }
            }
            comm.finalize()
            if !(result.allReduceCorrect && result.broadcastCorrect && result.gatherCorrect && result.ringAllReduceCorrect != false
                  && result.ringGatherCorrect != false) {
                throw ExitCode(1)
            }
        }
    }
}
