import Foundation

/// Writing a file the user named: whole or not at all, and to what the name stands for.
/// A regular file (or a new name) is written under a temporary name beside it and renamed
/// over it when complete, so a failure leaves the old file as it was. A symbolic link is
/// followed — its target is replaced, the link stays a link. A named pipe, a terminal or
/// another device (`/dev/stdout`) is written directly: renaming over it would replace the
/// pipe or device node itself with a regular file.
public enum OutputFile {
    /// Writes what `body` writes to the handle it gets.
    public static func write(to path: String, _ body: (FileHandle) throws -> Void) throws {
        let destination = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var info = stat()
        if stat(destination, &info) == 0 {
            let kind = info.st_mode & S_IFMT
            if kind == S_IFDIR { throw MessageError("\(path): is a directory") }
            if kind != S_IFREG {
                guard let handle = FileHandle(forWritingAtPath: destination) else {
                    throw MessageError("\(path): cannot open for writing: \(String(cString: strerror(errno)))")
                }
                defer { try? handle.close() }
                try body(handle)
                return
            }
        }
        let url = URL(fileURLWithPath: destination)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".tmp-\(getpid())-\(url.lastPathComponent)").path
        guard FileManager.default.createFile(atPath: temporary, contents: nil), let handle = FileHandle(forWritingAtPath: temporary) else {
            throw MessageError("\(path): cannot write in \(url.deletingLastPathComponent().path): \(String(cString: strerror(errno)))")
        }
        do {
            try body(handle)
            try handle.close()
            guard rename(temporary, destination) == 0 else {
                throw MessageError("\(path): cannot replace it: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? handle.close()
            unlink(temporary)
            throw error
        }
    }

    /// Writes `data`.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { try $0.write(contentsOf: data) }
    }
}
