import Distributed
import Foundation
import Model
import Report

/// Checks that every rank sees the same thing (flags, data files, initial weights) before a
/// data-parallel run starts: ranks that disagree would silently train different models.
enum RankAgreement {
    /// Gather `value` on rank 0, compare with rank 0's, broadcast the verdict; throws on every
    /// rank when any rank differs, naming the ranks and what differed.
    static func require(_ what: String, _ value: String, comm: Communicator) throws {
        guard comm.size > 1 else { return }
        let all = try comm.gather(Array(value.utf8), root: 0)
        var verdict = ""
        if let all {
            let reference = all[0]
            let differing = all.indices.filter { all[$0] != reference }
            if !differing.isEmpty {
                verdict = "ranks \(differing.map(String.init).joined(separator: ", ")) see different \(what) than rank 0; "
                    + "start every rank with the same flags, data and model"
            }
        }
        verdict = try comm.broadcast(verdict, root: 0)
        if !verdict.isEmpty { throw MessageError(verdict) }
    }

    /// FNV-1a of the data files' bytes: cheap, and any edit changes it.
    static func fingerprint(files: [URL]) -> String {
        files.map { url -> String in
            guard let data = FileManager.default.contents(atPath: url.path) else { return "\(url.lastPathComponent):missing" }
            var h: UInt64 = 0xCBF2_9CE4_8422_2325
            for b in data { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            return "\(url.lastPathComponent):\(data.count):\(String(h, radix: 16))"
        }.joined(separator: ",")
    }
}
