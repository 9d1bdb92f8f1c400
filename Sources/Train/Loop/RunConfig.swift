import Foundation
import Report

/// run_config.json (and run_config.resume-N.json): how an invocation of `ft-dist train` was
/// started. The report reads it loosely (RunConfiguration).
public struct RunConfig: Codable {
    public var options: TrainingOptions
    public var worldSize: Int
    public var transport: String
    public var blasThreads: Int
    public var hosts: [String]
    public var totalSteps: Int
    public var trainExamples: Int
    public var validationExamples: Int
    public var resumedFrom: String?
    public var startedAt: String

    public init(options: TrainingOptions, worldSize: Int, transport: String, blasThreads: Int, hosts: [String], totalSteps: Int,
                trainExamples: Int, validationExamples: Int, resumedFrom: String?, startedAt: String) {
        self.options = options
        self.worldSize = worldSize
        self.transport = transport
        self.blasThreads = blasThreads
        self.hosts = hosts
        self.totalSteps = totalSteps
        self.trainExamples = trainExamples
        self.validationExamples = validationExamples
        self.resumedFrom = resumedFrom
        self.startedAt = startedAt
    }
}
