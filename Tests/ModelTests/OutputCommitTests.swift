import Foundation
import XCTest
@testable import Model

/// OutputCommit: the rename runs under the lock and is recorded; once an interrupt handler has
/// stopped commits, a later rename never runs.
final class OutputCommitTests: XCTestCase {
    func testARenameAfterStopCommitsNeverRuns() {
        let first = OutputCommit()
        XCTAssertEqual(first.commit { 42 }, 42)
        XCTAssertTrue(first.stopCommits(), "a commit happened before the stop")

        let second = OutputCommit()
        XCTAssertFalse(second.stopCommits(), "nothing committed yet")
        final class Flag: @unchecked Sendable {
            private let lock = NSLock()
            private var value = false
            func set() { lock.withLock { value = true } }
            var isSet: Bool { lock.withLock { value } }
        }
        let renamed = Flag()
        let started = expectation(description: "the writer reached its commit")
        Thread.detachNewThread {
            started.fulfill()
            second.commit { renamed.set() }  // blocks for good: the handler holds the lock
        }
        wait(for: [started], timeout: 10)
        Thread.sleep(forTimeInterval: 0.3)
        XCTAssertFalse(renamed.isSet, "no rename after stopCommits")
    }
}
