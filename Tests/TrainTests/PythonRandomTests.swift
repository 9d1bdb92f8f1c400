import Foundation
import XCTest
import Report
import Train

final class PythonRandomTests: XCTestCase {
    /// The 16 row indices of each of the 4 reference steps (train_trajectory.json).
    static func referenceStepIndices() throws -> [[Int]] {
        let url = DataFixtures.referenceDir.appendingPathComponent("train_trajectory.json")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let steps = json["steps"] as! [[String: Any]]
        return steps.map { ($0["indices"] as! [NSNumber]).map(\.intValue) }
    }

    func testShuffleMatchesReferenceTrajectory() throws {
        let steps = try Self.referenceStepIndices()
        XCTAssertEqual(steps.count, 4)
        var x = Array(0..<10_003)
        var rng = PythonRandom(seed: 42)
        rng.shuffle(&x)
        for (s, indices) in steps.enumerated() {
            XCTAssertEqual(indices.count, 16)
            XCTAssertEqual(Array(x[(16 * s)..<(16 * s + 16)]), indices, "step \(s + 1)")
        }
        XCTAssertEqual(Set(x).count, 10_003)
        XCTAssertEqual(Array(x.suffix(3)), [4506, 409, 1824])  // python3 3.11.7
    }

    // Expected values below were computed once with CPython 3.11.7's `random` module.
    func testShuffleOtherSeedsAgainstCPython() {
        func shuffled(_ seed: Int, _ n: Int) -> [Int] {
            var rng = PythonRandom(seed: seed)
            var x = Array(0..<n)
            rng.shuffle(&x)
            return x
        }
        XCTAssertEqual(shuffled(0, 10), [7, 8, 1, 5, 3, 4, 2, 0, 9, 6])
        XCTAssertEqual(shuffled(1, 20), [11, 5, 17, 19, 9, 0, 16, 1, 15, 6, 10, 13, 14, 12, 7, 3, 8, 2, 18, 4])
        XCTAssertEqual(shuffled((1 << 32) + 5, 7), [4, 5, 6, 0, 2, 3, 1])  // two-word key [5, 1]
        XCTAssertEqual(Array(shuffled(123, 1000).prefix(10)), [178, 830, 641, 410, 255, 470, 433, 580, 257, 450])
        XCTAssertEqual(Array(shuffled(43, 10_003).prefix(4)), [361, 9425, 2982, 1507])
        XCTAssertEqual(shuffled(5, 1), [0])
        XCTAssertEqual(shuffled(5, 0), [])
    }

    func testGetrandbitsRandbelowRandomAgainstCPython() throws {
        var a = PythonRandom(seed: 42)
        XCTAssertEqual(try (0..<3).map { _ in try a.getrandbits(32) }, [2_746_317_213, 478_163_327, 107_420_369])

        var b = PythonRandom(seed: 42)
        XCTAssertEqual(try b.getrandbits(1), 1)
        XCTAssertEqual(try b.getrandbits(7), 14)
        XCTAssertEqual(try b.getrandbits(40), 811_856_239_313)
        XCTAssertEqual(try b.getrandbits(64), 4_517_457_392_071_889_495)

        var c = PythonRandom(seed: 42)
        XCTAssertEqual(c.random(), 0.6394267984578837)
        XCTAssertEqual(c.random(), 0.025010755222666936)

        var d = PythonRandom(seed: 7)
        XCTAssertEqual(try [1, 2, 3, 10, 1000, (1 << 31) + 1].map { try d.randbelow($0) }, [0, 0, 1, 0, 74, 404_285_457])

        // seed 0 and key [0] are the same generator; getrandbits(0) consumes nothing.
        var e = PythonRandom(seed: 0), f = PythonRandom(key: [0])
        XCTAssertEqual(try e.getrandbits(0), 0)
        XCTAssertEqual(e.nextUInt32(), f.nextUInt32())
    }

    func testInvalidArgumentsThrow() {
        var r = PythonRandom(seed: 1)
        XCTAssertThrowsError(try r.getrandbits(65)) { XCTAssertTrue(($0 as? MessageError)?.message.hasPrefix("invalid argument:") == true, "\($0)") }
        XCTAssertThrowsError(try r.getrandbits(-1)) { XCTAssertTrue(($0 as? MessageError)?.message.hasPrefix("invalid argument:") == true, "\($0)") }
        XCTAssertThrowsError(try r.randbelow(0)) { XCTAssertTrue(($0 as? MessageError)?.message.hasPrefix("invalid argument:") == true, "\($0)") }
    }
}
