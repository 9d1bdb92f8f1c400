import Foundation
import XCTest

extension XCTestCase {
    /// A fresh directory for this test, removed when the test ends (passed or failed).
    public func temporaryDirectory(_ label: String) throws -> URL {
        let dir = try TestPaths.temporaryDirectory(label)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }
}
