import Foundation

/// Learning rate at 0-based step s of S total (HF's schedules): linear warmup over W steps,
/// then constant, linear decay or cosine `lr0 · 0.5 · (1 + cos(π (s − W) / (S − W)))`.
public struct LearningRateSchedule: Codable, Equatable {
    public enum Kind: String, Codable, CaseIterable { case cosine, linear, constant }
    public var kind: Kind
    public var baseLR: Double
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(kind: Kind, baseLR: Double, warmupSteps: Int, totalSteps: Int) {
        self.kind = kind
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    public func lr(step s: Int) -> Double {
        if s < warmupSteps { return baseLR * Double(s) / Double(max(1, warmupSteps)) }
        let progress = Double(s - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        switch kind {
        case .constant: return baseLR
        case .linear: return baseLR * max(0, 1 - progress)
        case .cosine: return baseLR * max(0, 0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}
