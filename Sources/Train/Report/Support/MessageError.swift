/// The error ft-dist reports to a person: nothing but a one-line message that says what is
/// wrong (and, where it helps, what to do). Every failure of the trainer, the checkpoints, the
/// evaluation, the report and the command line is one of these, except those that carry more
/// than a message — DataError (file and line), ModelFileError (the file), EvaluationError
/// (which case), GemmaInference.CacheFull (a condition callers may handle) — and the
/// Distributed module's CommunicatorError (that module cannot see this one).
public struct MessageError: Error, CustomStringConvertible, Equatable, Sendable {
    public let message: String

    public init(_ message: String) { self.message = message }

    /// A caller passed an argument outside its domain (batch plan, shard, template, RNG, flags).
    public static func invalidArgument(_ message: String) -> MessageError { MessageError("invalid argument: " + message) }

    public var description: String { message }
}
