import Foundation

/// Writing a file the user named: whole or not at all, and to what the name stands for.
/// A regular file (or a new name) is written under a temporary name beside it and renamed
/// over it when complete, so a failure leaves the old file as it was. A symbolic link is
/// followed — its target is replaced, the link stays a link. This process's own streams
/// (`/dev/stdout`, `/dev/fd/N`) are written through the open descriptor, whatever they lead
/// to; a named pipe, a terminal or another device is written directly: renaming over it would
/// replace the pipe or device node itself with a regular file.
public enum OutputFile {
    /// Writes what `body` writes to the handle it gets.
    public static func write(to path: String, _ body: (FileHandle) throws -> Void) throws {
        // this process's own streams (/dev/stdout, /dev/fd/1, /proc/self/fd/1, …): written through
        // the open descriptor — reopening the file behind it would write at its start, and a
        // rename would replace a log that stdout appends to
        if let fd = openDescriptor(named: path) {
            try body(FileHandle(fileDescriptor: fd, closeOnDealloc: false))
            return
        }
        // stat follows links (/dev/stdout → /proc/self/fd/1 → whatever fd 1 is): anything but a
        // regular file is written in place, as it is
        var info = stat()
        var destination = path
        if stat(path, &info) == 0 {
            let kind = info.st_mode & S_IFMT
            if kind == S_IFDIR { throw MessageError("\(path): is a directory") }
            if kind != S_IFREG {
                guard let handle = FileHandle(forWritingAtPath: path) else {
                    throw MessageError("\(path): cannot open for writing: \(String(cString: strerror(errno)))")
                }
                defer { try? handle.close() }
                try body(handle)
                return
            }
            destination = URL(fileURLWithPath: path).resolvingSymlinksInPath().path   // a regular file behind links
        } else {
            // a link to nothing yet: the file goes where it points
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(path, &target, target.count - 1)
            if n > 0 {
                let link = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                destination = link.hasPrefix("/") ? link
                    : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(link).path
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
            // Foundation's write errors name no file: say which, and what the system said
            // (anything else — the body's own errors — goes on as it is)
            let ns = error as NSError
            guard ns.domain == NSPOSIXErrorDomain || ns.domain == NSCocoaErrorDomain else { throw error }
            let posix = ns.domain == NSPOSIXErrorDomain ? ns : ns.userInfo[NSUnderlyingErrorKey] as? NSError
            throw MessageError("\(path): cannot write: \(posix.map { String(cString: strerror(Int32($0.code))) } ?? ns.localizedDescription)")
        }
    }

    /// The descriptor `path` names when it is one of this process's open descriptors.
    static func openDescriptor(named path: String) -> Int32? {
        switch path {
        case "/dev/stdout": return 1
        case "/dev/stderr": return 2
        default:
            for prefix in ["/dev/fd/", "/proc/self/fd/"] where path.hasPrefix(prefix) {
                if let fd = Int32(path.dropFirst(prefix.count)), fcntl(fd, F_GETFD) != -1 { return fd }
            }
            return nil
        }
    }

    /// Why a directory cannot be made at `path`, in words (Foundation reports a file in the
    /// way as "NSCocoaErrorDomain error 512"): a file at the path or at the nearest existing
    /// ancestor, or a directory there that is not writable. Nil when nothing is in the way.
    public static func directoryProblem(_ path: String) -> String? {
        var isDir: ObjCBool = false
        var url = URL(fileURLWithPath: path).standardizedFileURL
        var link = stat()
        if lstat(url.path, &link) == 0, !FileManager.default.fileExists(atPath: url.path) {
            return "\(url.path) is a symbolic link to nothing"
        }
        // the path itself, else its nearest existing ancestor, decides
        while !FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir) {
            if url.path == "/" { return nil }
            url.deleteLastPathComponent()
        }
        if !isDir.boolValue { return "\(url.path) is a file, not a directory" }
        return access(url.path, W_OK) == 0 ? nil : "\(url.path) is not writable"
    }

    /// Creates the directory `path` (and its parents), or throws a message that says why not.
    public static func createDirectory(_ path: String, what: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw MessageError("cannot create \(what) \(path): \(directoryProblem(path) ?? error.localizedDescription)")
        }
    }

    /// Writes `data`.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { try $0.write(contentsOf: data) }
    }
}
