import Foundation

/// SIGINT / SIGTERM / SIGUSR1 ask the run to stop after the current step with a final
/// checkpoint (mpirun forwards them to every rank); a second SIGINT ends the process at once.
public enum StopSignal {
    nonisolated(unsafe) static var received: Int32 = 0

    public static func install() {
        for s in [SIGINT, SIGTERM, SIGUSR1] {
            signal(s) { sig in
                if StopSignal.received != 0 && sig == SIGINT { _exit(130) }
                StopSignal.received = sig
            }
        }
    }

    public static var requested: Bool { received != 0 }

    /// The conventional exit code for the signal that stopped the run.
    public static var exitCode: Int32 { received == 0 ? 0 : 128 + received }
}
