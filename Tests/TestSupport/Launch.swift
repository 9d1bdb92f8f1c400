import Foundation

/// Runs the built ft-dist binary, directly or under mpirun, and captures its output.
public enum Launch {
    public struct Result {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var seconds: Double
    }

    /// mpirun flags for this machine: root, more ranks than cores, one BLAS thread per rank.
    public static func mpirunArguments(ranks: Int, extra: [String] = []) -> [String] {
        ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", String(ranks),
         "-x", "OPENBLAS_NUM_THREADS=1"] + extra
    }

    /// `exported`: variables every rank gets (mpirun -x).
    public static func mpirun(ranks: Int, _ arguments: [String], timeout: Double = 600,
                              environment: [String: String] = [:], exported: [String: String] = [:]) throws -> Result {
        let x = exported.sorted { $0.key < $1.key }.flatMap { ["-x", "\($0.key)=\($0.value)"] }
        return try run("/usr/bin/mpirun", mpirunArguments(ranks: ranks, extra: x) + [TestPaths.binary] + arguments,
                timeout: timeout, environment: environment)
    }

    /// `stdinPath`: stdin opened on that path instead (a directory, to see a read fail).
    public static func ftdist(_ arguments: [String], timeout: Double = 600, environment: [String: String] = [:],
                              stdin: String? = nil, stdinPath: URL? = nil) throws -> Result {
        try run(TestPaths.binary, arguments, timeout: timeout, environment: environment, stdin: stdin, stdinPath: stdinPath)
    }

    /// Start a process; output goes to temporary files (no pipe can fill up and block it).
    public static func run(_ executable: String, _ arguments: [String], timeout: Double,
                           environment: [String: String] = [:], stdin: String? = nil, stdinPath: URL? = nil) throws -> Result {
        let dir = try TestPaths.temporaryDirectory("launch")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("stdout"), err = dir.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        for (k, v) in environment { env[k] = v }
        p.environment = env
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        if let stdinPath {
            p.standardInput = try FileHandle(forReadingFrom: stdinPath)
        } else if let stdin {
            let input = dir.appendingPathComponent("stdin")
            try Data(stdin.utf8).write(to: input)
            p.standardInput = try FileHandle(forReadingFrom: input)
        } else {
            p.standardInput = FileHandle.nullDevice
        }
        let start = Date()
        try p.run()
        while p.isRunning {
            if Date().timeIntervalSince(start) > timeout {
                p.terminate()
                Thread.sleep(forTimeInterval: 2)
                if p.isRunning { kill(p.processIdentifier, SIGKILL) }
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        p.waitUntilExit()
        return Result(status: p.terminationStatus,
                      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "",
                      seconds: Date().timeIntervalSince(start))
    }
}
