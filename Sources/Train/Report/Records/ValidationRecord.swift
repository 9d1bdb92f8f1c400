/// One validation during training, a line of validation.jsonl: teacher-forced loss on the
/// validation rows and the accuracy of the labels generated for them.
public struct ValidationRecord: Codable, Equatable {
    public var step: Int
    public var loss: Double
    public var accuracy: Double
    /// Share of generations that are no intent at all.
    public var invalidRate: Double
    public var samples: Int
    public var seconds: Double

    public init(step: Int, loss: Double, accuracy: Double, invalidRate: Double, samples: Int, seconds: Double) {
        self.step = step
        self.loss = loss
        self.accuracy = accuracy
        self.invalidRate = invalidRate
        self.samples = samples
        self.seconds = seconds
    }

    enum CodingKeys: String, CodingKey {
        case step, loss, accuracy, samples, seconds
        case invalidRate = "invalid_rate"
    }
}
