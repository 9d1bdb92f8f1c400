/// One `run_config.resume-N.json`: the run continued after step `step`.
public struct RunResume: Equatable {
    public var step: Int
    public var checkpoint: String?
    public var startedAt: String?
}
