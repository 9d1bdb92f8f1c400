import Foundation

/// The fields of a JSON object read from a file (config.json, adapter_config.json), each with
/// the JSON type it must have. Foundation's casts are too forgiving for that on Linux: a JSON
/// `true` casts to the Int 1 and the numbers 0 and 1 cast to Bool, so `"sliding_window": true`
/// would silently become a window of 1. Here a key that is absent or null takes the caller's
/// default, and a key present with another type is refused with a message naming the file and
/// the key — never read as something else.
public struct JSONFields {
    /// The object's keys and values as JSONSerialization gives them.
    public let values: [String: Any]
    public let file: String

    /// Parse `data` as a JSON object; a message for invalid JSON and for another JSON value.
    public init(data: Data, file: String) throws {
        let value: Any
        do { value = try JSONSerialization.jsonObject(with: data) } catch {
            throw ModelFileError(file: file, "not valid JSON")
        }
        guard let values = value as? [String: Any] else { throw ModelFileError(file: file, "not a JSON object") }
        self.init(values: values, file: file)
    }

    public init(values: [String: Any], file: String) {
        self.values = values
        self.file = file
    }

    /// Read and parse the JSON object in `path` (`what` says what the file is for, when missing).
    public init(contentsOf path: String, missing what: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            throw ModelFileError(file: path, "is a directory, expected \(what)")
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw ModelFileError(file: path, "missing: \(what)") }
        try self.init(data: data, file: path)
    }

    /// Whether `key` holds a value other than null.
    public func has(_ key: String) -> Bool { present(key) != nil }

    /// An integer (a JSON number with no fraction, such as 640 or 640.0); nil when absent or null.
    public func int(_ key: String) throws -> Int? {
        try typed(key, "an integer") { Self.integer($0) }
    }

    public func requiredInt(_ key: String) throws -> Int {
        guard let v = try int(key) else { throw ModelFileError(file: file, "missing integer \(key)") }
        return v
    }

    /// A finite number; nil when absent or null.
    public func number(_ key: String) throws -> Double? {
        try typed(key, "a finite number") { Self.finiteNumber($0) }
    }

    /// true or false; nil when absent or null.
    public func bool(_ key: String) throws -> Bool? {
        try typed(key, "true or false") { Self.isBoolean($0) ? ($0 as! NSNumber).boolValue : nil }
    }

    public func string(_ key: String) throws -> String? {
        try typed(key, "a string") { $0 as? String }
    }

    public func strings(_ key: String) throws -> [String]? {
        try typed(key, "a list of strings") { $0 as? [String] }
    }

    /// A nested object, read with the same rules (its keys are named `key.inner` in messages).
    public func object(_ key: String) throws -> JSONFields? {
        try typed(key, "an object") { ($0 as? [String: Any]).map { JSONFields(values: $0, file: file, prefix: prefix + key + ".") } }
    }

    private var prefix = ""
    private init(values: [String: Any], file: String, prefix: String) {
        self.values = values
        self.file = file
        self.prefix = prefix
    }

    private func present(_ key: String) -> Any? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        return value
    }

    private func typed<T>(_ key: String, _ kind: String, _ cast: (Any) -> T?) throws -> T? {
        guard let value = present(key) else { return nil }
        guard let t = cast(value) else {
            throw ModelFileError(file: file, "\(prefix)\(key) is \(Self.describe(value)), expected \(kind)")
        }
        return t
    }

    /// Whether a JSONSerialization value is true or false rather than a number. `value is Bool`
    /// does not tell them apart on Linux (0 and 1 are Bool too); a JSON boolean is an NSNumber of
    /// C type char, which no JSON number is.
    public static func isBoolean(_ value: Any?) -> Bool {
        guard let n = value as? NSNumber else { return false }
        return String(cString: n.objCType) == "c"
    }

    /// A JSON number (not a boolean) that is finite.
    static func finiteNumber(_ value: Any) -> Double? {
        guard let n = value as? NSNumber, !isBoolean(n), n.doubleValue.isFinite else { return nil }
        return n.doubleValue
    }

    /// A JSON number (not a boolean) without a fraction.
    static func integer(_ value: Any) -> Int? {
        finiteNumber(value).flatMap { Int(exactly: $0) }
    }

    /// A value as a message shows it: booleans as true/false, strings quoted.
    static func describe(_ value: Any) -> String {
        if isBoolean(value) { return (value as! NSNumber).boolValue ? "true" : "false" }
        if let s = value as? String { return "\"\(excerpt(s))\"" }
        if value is [Any] { return "a list" }
        if value is [String: Any] { return "an object" }
        return "\(value)"
    }
}

/// A string as a message quotes it: its first 40 characters, then "…".
func excerpt(_ s: String) -> String { s.count > 40 ? String(s.prefix(40)) + "…" : s }
