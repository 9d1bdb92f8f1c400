import ArgumentParser
import Foundation
import Report

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render a training run directory as one page: report.md, loss.svg, accuracy.svg.",
        discussion: """
        Reads run_config*.json, metrics.jsonl, validation.jsonl and eval-test/metrics.json as \
        `ft-dist train` wrote them; works on a finished run and on one still in progress.
        """)

    @Argument(help: "The run directory (the --output of ft-dist train).")
    var runDirectory: String

    @Option(help: "Write the report here instead of into the run directory.")
    var out: String?

    func validate() throws {
        if let out, out.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--out is empty: name a directory") }
    }

    func run() throws {
        try runReportingErrors {
            let report = try RunReport(runDirectory: runDirectory)
            for url in try report.write(to: out) { print(url.path) }
        }
    }
}
