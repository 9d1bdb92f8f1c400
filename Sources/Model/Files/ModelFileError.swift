/// Any problem with a model file: names the file and what is wrong.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var message: String
    public init(file: String, _ message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }

    /// Throw unless every value of tensor `tensor` is finite: a NaN or an infinity loads,
    /// trains and exports without complaint and then generates garbage. One check for every
    /// loader and writer of weights.
    public static func requireFinite(_ p: UnsafePointer<Float>, count: Int, tensor: String, file: String) throws {
        for i in 0..<count where !p[i].isFinite {
            throw ModelFileError(file: file, "tensor \(tensor) holds a non-finite value (\(p[i]) at element \(i))")
        }
    }
}
