/// A failed collective, or why a facility (host shared memory) is unavailable: the message
/// names the operation and the rank.
public struct CommunicatorError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
