import Foundation

/// The moment an output written under a temporary name takes its final name (rename or link),
/// made atomic with respect to an interrupt handler that removes the temporaries: both hold
/// one lock, so the handler either finds the output complete or removes the temporaries
/// before any rename can happen — never a directory half deleted under the final name.
public final class OutputCommit: @unchecked Sendable {
    public static let shared = OutputCommit()
    private let lock = NSLock()
    private var committed = false

    /// Runs `rename` (the step that gives the output its name) under the lock.
    public func commit<T>(_ rename: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        let result = try rename()
        committed = true
        return result
    }

    /// For an interrupt handler that ends the process: takes the lock for good, so no commit
    /// follows, and says whether one already happened.
    public func stopCommits() -> Bool {
        lock.lock()
        return committed
    }
}
