import Foundation

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

    /// A failed write of `file`, with the system's reason (Foundation's file errors carry it as
    /// their underlying POSIX error and otherwise print as "error 512").
    public static func cannotWrite(_ file: String, _ error: Error) -> ModelFileError {
        if let e = error as? ModelFileError { return e }
        return ModelFileError(file: file, "cannot write: \(systemReason(error))")
    }

    /// What the system said: strerror of a POSIX error, direct or underlying, else the
    /// error's own description.
    public static func systemReason(_ error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return ns.domain == NSCocoaErrorDomain ? ns.localizedDescription : "\(error)"
    }
}
