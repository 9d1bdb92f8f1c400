import Foundation
import Model
import TestSupport
import XCTest

/// The exchange overlapped with the backward pass (the default between hosts, `--overlap
/// always` on one) against `--no-overlap`, which reduces after it: the same trajectory within 1e-6 (only the input-embedding rows are summed
/// in another order, and with one rank per host the head's gradient, made from its factors), at np = 2 and 3 on one host, and with the cross-host path — the ring
/// between hosts — on "hosts" of ranks of this machine (FTDIST_SIMULATED_HOST_RANKS): 2 hosts
/// × 2 ranks and 3 hosts × 1 rank, and LoRA's adapters over 2 hosts × 2 ranks. Across network
/// namespaces: TwoHostTests.
final class OverlapTests: XCTestCase {
    func testOverlappedExchangeFollowsTheReductionAfterTheBackward() throws {
        // the default on one host: after the backward, and the run says why
        let oneHost = try temporaryDirectory("overlap-default")
        let r = try TinyRun.train(ranks: 2, output: oneHost.appendingPathComponent("run"),
                                  model: try TinyRun.model(in: oneHost), extra: ["--max-steps", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue((r.stdout + r.stderr).contains("× 1 host(s)), after the backward (no overlap: one host"), r.stdout)

        let dir = try temporaryDirectory("overlap")
        let model = try TinyRun.model(in: dir)
        let steps = 20
        // one rank per host: the head's gradient travels as its factors (OverlappedReduction)
        let factored = " (the head's gradient as its factors)"
        let twoHosts = "host shared memory (1 rank(s) per host × 2 host(s), ring between hosts), overlapped with the backward" + factored
        let layouts: [(ranks: Int, hostRanks: Int?, method: String, flags: [String], description: String)] = [
            (2, nil, "full", [], "host shared memory (2 rank(s) per host × 1 host(s)), overlapped with the backward"),
            (3, nil, "full", [], "host shared memory (3 rank(s) per host × 1 host(s)), overlapped with the backward"),
            (4, 2, "full", [], "host shared memory (2 rank(s) per host × 2 host(s), ring between hosts), overlapped with the backward"),
            (3, 1, "full", [], "host shared memory (1 rank(s) per host × 3 host(s), ring between hosts), overlapped with the backward" + factored),
            (4, 2, "lora", [], "host shared memory (2 rank(s) per host × 2 host(s), ring between hosts), overlapped with the backward"),
            // shards of 24 examples: two memory-bounded passes each, only the last overlapped
            (2, 1, "full", ["--batch-size", "48"], twoHosts),
            // a global batch of 1: one rank has nothing to compute and reports every stage at once
            (2, 1, "full", ["--batch-size", "1"], twoHosts),
        ]
        for layout in layouts {
            let name = "\(layout.method)-np\(layout.ranks)-hosts-of-\(layout.hostRanks ?? layout.ranks)" + layout.flags.joined()
            let exported = layout.hostRanks.map { ["FTDIST_SIMULATED_HOST_RANKS": String($0)] } ?? [:]
            var runs: [[TinyRun.Record]] = []
            var weights: [GemmaModel] = []
            for overlap in [true, false] {
                let out = dir.appendingPathComponent(name + (overlap ? "-overlap" : "-after"))
                // one host overlaps only when asked to (--overlap always); several do by default
                let flags = overlap ? (layout.hostRanks == nil ? ["--overlap", "always"] : []) : ["--no-overlap"]
                let r = try TinyRun.train(ranks: layout.ranks, output: out, model: model,
                                         extra: ["--max-steps", String(steps), "--method", layout.method] + layout.flags + flags,
                                         exported: exported)
                XCTAssertEqual(r.status, 0, "\(name) overlap=\(overlap): \(r.stderr)")
                guard r.status == 0 else { return }
                let expected = overlap ? layout.description
                    : layout.description.replacingOccurrences(of: "overlapped with the backward" + factored, with: "after the backward")
                        .replacingOccurrences(of: "overlapped with the backward", with: "after the backward")
                XCTAssertTrue((r.stdout + r.stderr).contains("gradients: " + expected + "), "), "\(name): \(r.stdout)")
                runs.append(try TinyRun.losses(out))
                // (an adapter checkpoint holds no full model; its losses and norms are compared)
                if layout.method == "full" { weights.append(try TinyRun.finalWeights(out, steps: steps)) }
            }
            XCTAssertEqual(runs[0].count, steps)
            XCTAssertEqual(runs[1].count, steps)
            for (a, b) in zip(runs[0], runs[1]) {
                XCTAssertEqual(a.step, b.step)
                XCTAssertLessThan(abs(a.loss - b.loss) / a.loss, 1e-6, "\(name) step \(a.step): \(a.loss) overlapped vs \(b.loss)")
                XCTAssertLessThan(abs(a.grad_norm - b.grad_norm) / a.grad_norm, 1e-5, "\(name) step \(a.step): gradient norm")
            }
            let worstParam = weights.count == 2 ? TinyRun.worstWeightDifference(weights[0], weights[1]) : 0
            XCTAssertLessThan(worstParam, 1e-6, "\(name): final parameters")
            print("\(name) overlapped vs after the backward: worst loss relative difference "
                  + "\(TinyRun.worstRelativeLossDifference(runs[0], runs[1])), worst parameter difference \(worstParam)")
        }
    }

    /// bf16 between hosts (2 simulated hosts × 1 rank): the replicas stay identical (the run
    /// compares their checksums every 5 steps and would stop), the trajectory stays close to
    /// fp32's but not equal — the compression is really applied — both overlapped and not.
    func testBF16BetweenHostsKeepsReplicasEqualAndStaysNearFP32() throws {
        let dir = try temporaryDirectory("overlap-bf16")
        let model = try TinyRun.model(in: dir)
        let steps = 20
        let hosts = ["FTDIST_SIMULATED_HOST_RANKS": "1"]
        func run(_ name: String, _ flags: [String]) throws -> [TinyRun.Record] {
            let out = dir.appendingPathComponent(name)
            let r = try TinyRun.train(ranks: 2, output: out, model: model, extra: ["--max-steps", String(steps)] + flags,
                                     exported: hosts)
            XCTAssertEqual(r.status, 0, "\(name): \(r.stderr)")
            if flags.contains("bf16") {
                XCTAssertTrue((r.stdout + r.stderr).contains("ring between hosts in bf16"), "\(name): \(r.stdout)")
            }
            return try TinyRun.losses(out)
        }
        let fp32 = try run("fp32", [])
        for (name, flags) in [("bf16", ["--inter-host-dtype", "bf16"]), ("bf16-after", ["--inter-host-dtype", "bf16", "--no-overlap"])] {
            let bf16 = try run(name, flags)
            XCTAssertEqual(bf16.count, steps)
            let worst = TinyRun.worstRelativeLossDifference(fp32, bf16)
            XCTAssertGreaterThan(worst, 0, "\(name): bf16 on the wire should change the trajectory a little")
            XCTAssertLessThan(worst, 1e-2, "\(name): bf16 on the wire should stay near fp32")
            print("\(name) vs fp32 between 2 simulated hosts: worst loss relative difference \(worst) over \(steps) steps")
        }
    }
}
