import Foundation
import TestSupport
import XCTest

/// Two "hosts" on one machine: launch/netns-two-hosts.sh puts one rank in each of two network
/// namespaces joined by a veth pair (Open MPI starts the second daemon through
/// launch/netns-agent.sh instead of ssh; MPI traffic is TCP over the veth). The tiny model
/// trained for 10 steps that way must follow the single-rank trajectory, with the exchange
/// overlapped (the ring between hosts, the head's gradient as its factors) and within 1e-6 of
/// `--no-overlap`.
/// Needs root, `ip` (iproute2) and `unshare` (util-linux); fails, not skips, without them.
final class TwoHostTests: XCTestCase {
    struct Record: Decodable { var step: Int; var loss: Double }

    static var script: String { TestPaths.repoRoot.appendingPathComponent("launch/netns-two-hosts.sh").path }

    static func losses(_ dir: URL) throws -> [Record] {
        let text = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Record.self, from: Data($0.utf8)) }
    }

    /// launch/netns-two-hosts.sh with `arguments`, or with `hosts` other than 2
    /// launch/netns-hosts.sh --hosts N.
    static func netns(_ arguments: [String], hosts: Int = 2, timeout: Double) throws -> Launch.Result {
        let launcher = hosts == 2 ? [script]
            : [TestPaths.repoRoot.appendingPathComponent("launch/netns-hosts.sh").path, "--hosts", String(hosts)]
        return try Launch.run("/bin/bash", launcher + arguments, timeout: timeout, environment: ["FTDIST_BIN": TestPaths.binary])
    }

    /// `ft-dist train` of the tiny model for `steps` steps into `output`: no checkpoint but
    /// the last, no final evaluation, lr 1e-3.
    static func trainArguments(model: String, output: URL, steps: Int) -> [String] {
        ["train", "--model", model, "--data", TestPaths.dataDir.path, "--output", output.path,
         "--max-steps", String(steps), "--save-steps", "0", "--no-final-eval", "--lr", "1e-3"]
    }

    /// The same training as one rank (one BLAS thread) in `dir`/np1; the hosts' run in `output`
    /// must follow its losses step by step within 1e-5 relative. Returns the worst relative
    /// difference and the single rank's seconds (nil when a run failed, already reported).
    static func assertFollowsSingleRank(_ output: URL, _ label: String, model: String, dir: URL, steps: Int,
                                        file: StaticString = #filePath, line: UInt = #line) throws -> (worst: Double, seconds: Double)? {
        let oneOut = dir.appendingPathComponent("np1")
        let one = try Launch.ftdist(trainArguments(model: model, output: oneOut, steps: steps), timeout: 120,
                                    environment: ["OPENBLAS_NUM_THREADS": "1"])
        XCTAssertEqual(one.status, 0, "single rank failed: \(one.stderr)", file: file, line: line)
        guard one.status == 0 else { return nil }
        let a = try losses(oneOut), b = try losses(output)
        XCTAssertEqual(a.count, steps, file: file, line: line)
        XCTAssertEqual(b.count, steps, file: file, line: line)
        var worst = 0.0
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.step, y.step, file: file, line: line)
            let rel = abs(x.loss - y.loss) / abs(x.loss)
            worst = max(worst, rel)
            XCTAssertLessThan(rel, 1e-5, "step \(x.step): \(label) \(y.loss) vs one rank \(x.loss)", file: file, line: line)
        }
        return (worst, one.seconds)
    }

    /// Why this machine cannot run the test, or nil.
    static func missingPrerequisite() -> String? {
        if getuid() != 0 { return "not root (uid \(getuid())): network namespaces need root" }
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin"
        let dirs = path.split(separator: ":").map(String.init)
        for tool in ["ip", "unshare", "mpirun"] where !dirs.contains(where: {
            FileManager.default.isExecutableFile(atPath: $0 + "/" + tool)
        }) {
            return "'\(tool)' not found (apt-get install -y iproute2 util-linux openmpi-bin)"
        }
        if !FileManager.default.fileExists(atPath: script) { return "\(script) missing" }
        if !FileManager.default.isExecutableFile(atPath: TestPaths.binary) {
            return "\(TestPaths.binary) missing (swift build -c release)"
        }
        return nil
    }

    func testTwoNamespacesFollowTheSingleRankTrajectory() throws {
        if let missing = Self.missingPrerequisite() {
            XCTFail("TwoHostTests cannot run on this machine: \(missing)")
            return
        }
        let up = try Self.netns(["up"], timeout: 30)
        XCTAssertEqual(up.status, 0, "netns-two-hosts.sh up failed (cannot create network namespaces?): \(up.stderr)")
        guard up.status == 0 else { return }
        defer {
            if let down = try? Self.netns(["down"], timeout: 30), down.status != 0 {
                XCTFail("netns-two-hosts.sh down failed: \(down.stderr)")
            }
        }

        let dir = try temporaryDirectory("twohost")
        let model = try TinyRun.model(in: dir)
        let steps = 10
        func args(_ out: URL) -> [String] { Self.trainArguments(model: model, output: out, steps: steps) }

        let twoOut = dir.appendingPathComponent("two-hosts")
        let two = try Self.netns(["run"] + args(twoOut), timeout: 120)
        XCTAssertEqual(two.status, 0, "2 ranks over ftd-h1/ftd-h2 failed:\n\(two.stdout)\n\(two.stderr)")
        XCTAssertTrue(two.stderr.contains("2 rank(s) on 2 host(s)") || two.stdout.contains("2 rank(s) on 2 host(s)"),
                      "launch/hostfile.sh should start 2 ranks on 2 hosts:\n\(two.stdout)\n\(two.stderr)")
        XCTAssertTrue((two.stdout + two.stderr).contains("(1 rank(s) per host × 2 host(s), ring between hosts), overlapped with the backward (the head's gradient as its factors)"),
                      "the exchange should overlap the backward, with the ring between hosts and the head as factors:\n\(two.stdout)")
        // the same two hosts reducing after the backward (Open MPI's all-reduce between hosts)
        let afterOut = dir.appendingPathComponent("two-hosts-no-overlap")
        let after = try Self.netns(["run"] + args(afterOut) + ["--no-overlap"], timeout: 120)
        XCTAssertEqual(after.status, 0, "--no-overlap over ftd-h1/ftd-h2 failed:\n\(after.stdout)\n\(after.stderr)")
        guard two.status == 0, after.status == 0 else { return }
        let overlapped = try Self.losses(twoOut), reducedAfter = try Self.losses(afterOut)
        XCTAssertEqual(reducedAfter.count, steps)
        for (x, y) in zip(overlapped, reducedAfter) {
            XCTAssertLessThan(abs(x.loss - y.loss) / abs(y.loss), 1e-6, "step \(x.step): overlapped \(x.loss) vs --no-overlap \(y.loss)")
        }
        guard let single = try Self.assertFollowsSingleRank(twoOut, "two hosts", model: model, dir: dir, steps: steps) else { return }
        print(String(format: "two hosts (netns) vs np=1: %d steps, worst loss relative difference %.3g, %.1f s vs %.1f s",
                     steps, single.worst, two.seconds, single.seconds))
    }

    /// Three namespace hosts on a bridge (launch/netns-hosts.sh --hosts 3): the ring between
    /// hosts with H = 3 over TCP, overlapped, follows the single-rank trajectory.
    func testThreeNamespaceHostsFollowTheSingleRankTrajectory() throws {
        if let missing = Self.missingPrerequisite() {
            XCTFail("TwoHostTests cannot run on this machine: \(missing)")
            return
        }
        defer {
            if let down = try? Self.netns(["down"], hosts: 3, timeout: 30), down.status != 0 {
                XCTFail("netns-hosts.sh down failed: \(down.stderr)")
            }
        }
        let dir = try temporaryDirectory("threehosts")
        let model = try TinyRun.model(in: dir)
        let steps = 8
        let threeOut = dir.appendingPathComponent("three-hosts")
        let three = try Self.netns(["run"] + Self.trainArguments(model: model, output: threeOut, steps: steps), hosts: 3, timeout: 180)
        XCTAssertEqual(three.status, 0, "3 ranks over ftd-h1…ftd-h3 failed:\n\(three.stdout)\n\(three.stderr)")
        XCTAssertTrue((three.stdout + three.stderr).contains("(1 rank(s) per host × 3 host(s), ring between hosts), overlapped with the backward (the head's gradient as its factors)"),
                      "3 hosts should reduce round the ring, overlapped:\n\(three.stdout)\n\(three.stderr)")
        guard three.status == 0 else { return }
        _ = try Self.assertFollowsSingleRank(threeOut, "three hosts", model: model, dir: dir, steps: steps)
    }
}
