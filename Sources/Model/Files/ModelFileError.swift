/// Any problem with a model file: names the file and what is wrong.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var message: String
    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}
