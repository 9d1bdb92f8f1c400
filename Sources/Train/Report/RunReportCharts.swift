import Foundation

// The pictures of `ft-dist report`: self-contained SVG (no scripts, no external fonts/CSS), fixed
// number formatting, no randomness, so the same run directory always gives the same bytes.
// 900×420 px; title 16 px, axis titles 13 px, ticks and legend 12 px, marker labels 11 px.
enum RunReportCharts {
    static let width = 900.0
    static let height = 420.0
    static let fontFamily = ConfusionMatrixSVG.fontFamily

    static let lossColor = "#1f77b4"
    static let averageColor = "#0b3c6e"
    static let validationColor = "#e6550d"
    static let lrColor = "#2ca02c"
    static let epochColor = "#7f7f7f"
    static let resumeColor = "#8e44ad"
    static let testColor = "#d35400"

    // MARK: - The two charts

    static func loss(_ report: RunReport) -> String {
        let steps = report.steps
        let s = report.summary
        let losses = steps.map(\.loss).filter(\.isFinite) + report.validation.map(\.loss).filter(\.isFinite)
        let lossAxis = Axis.forLosses(losses)
        var chart = Chart(title: "Training loss: \(runName(report)) (\(stepsText(s)))", xTitle: "optimizer step",
                          yTitle: "loss (cross-entropy per label token" + (lossAxis.logarithmic ? ", log scale)" : ")"))
        chart.x = Axis(lo: 0, hi: Double(s.stepsDone), integer: true, target: 10)
        chart.y = lossAxis
        let lrs = steps.map(\.lr).filter(\.isFinite)
        let lrMax = lrs.max() ?? 0
        if lrMax > 0 {
            let exponent = Int(floor(log10(lrMax)))
            // 15% headroom: a constant learning rate must not hide in the plot's top border
            chart.right = Axis(lo: 0, hi: 1.15 * lrMax / pow(10, Double(exponent)), integer: false, target: 6)
            chart.rightTitle = exponent == 0 ? "learning rate" : "learning rate (×10\(superscript(exponent)))"
            chart.rightScale = pow(10, Double(exponent))
            chart.rightColor = lrColor
        }
        chart.legend.append(.line("loss per step", lossColor, width: 1.1, opacity: 0.55))
        chart.legend.append(.line("moving average, \(RunReport.movingAverageWindow) steps", averageColor, width: 2.5))
        if !report.validation.isEmpty { chart.legend.append(.dot("validation loss", validationColor)) }
        if lrMax > 0 { chart.legend.append(.line("learning rate (right axis)", lrColor, width: 1.2)) }
        addMarkers(&chart, report)

        var body = ""
        let raw = steps.map { (Double($0.step), $0.loss) }
        body += chart.polyline(raw, color: lossColor, width: 1.1, opacity: 0.55)
        body += chart.polyline(zip(steps, report.centredMovingAverage).map { (Double($0.0.step), $0.1) }, color: averageColor, width: 2.5)
        if lrMax > 0 {
            body += chart.polyline(steps.map { (Double($0.step), $0.lr / chart.rightScale) }, color: lrColor, width: 1.2,
                                   dash: nil, right: true)
        }
        for v in report.validation where v.loss.isFinite {
            body += chart.dot(Double(v.step), v.loss, color: validationColor,
                              tooltip: "step \(v.step): validation loss \(String(format: "%.4f", v.loss))")
        }
        chart.body = body
        return chart.render()
    }

    static func accuracy(_ report: RunReport) -> String {
        let s = report.summary
        let points = report.validation
        var chart = Chart(title: "Validation accuracy: \(runName(report)) (\(stepsText(s)))",
                          xTitle: "optimizer step", yTitle: "accuracy (%)")
        chart.x = Axis(lo: 0, hi: Double(s.stepsDone), integer: true, target: 10)
        var values = points.map { 100 * $0.accuracy }
        if let t = report.testMetrics { values.append(100 * t.accuracy) }
        let low = values.min() ?? 0
        chart.y = Axis(lo: max(0, floor((low - 5) / 10) * 10), hi: 100, integer: false, target: 6)
        chart.legend.append(.line("validation accuracy", lossColor, width: 2.5, dot: true))
        if report.testMetrics != nil { chart.legend.append(.line("test accuracy (final)", testColor, width: 1.5, dash: "6 4")) }
        addMarkers(&chart, report)

        var body = ""
        body += chart.polyline(points.map { (Double($0.step), 100 * $0.accuracy) }, color: lossColor, width: 2.5)
        for v in points {
            body += chart.dot(Double(v.step), 100 * v.accuracy, color: lossColor,
                              tooltip: "step \(v.step): \(String(format: "%.2f", 100 * v.accuracy))% accuracy on \(v.samples) examples")
        }
        if points.count <= 15 {
            // value labels above the dots, outside the clip so the last one is not cut at the edge
            for v in points {
                let (px, py) = chart.point(Double(v.step), 100 * v.accuracy)
                let anchor = px > chart.plotRight - 22 ? "end" : px < chart.plotLeft + 22 ? "start" : "middle"
                chart.overlay += text(px, py - 9, String(format: "%.1f%%", 100 * v.accuracy), size: 11, anchor: anchor, color: averageColor, halo: true)
            }
        }
        if let t = report.testMetrics {
            let y = 100 * t.accuracy
            body += chart.polyline([(chart.x.lo, y), (chart.x.hi, y)], color: testColor, width: 1.5, dash: "6 4")
            let (_, py) = chart.point(chart.x.lo, y)
            body += text(chart.plotLeft + 6, py + 15, "test \(String(format: "%.2f", y))%", size: 11, anchor: "start", color: testColor, halo: true)
        }
        chart.body = body
        return chart.render()
    }

    static func addMarkers(_ chart: inout Chart, _ report: RunReport) {
        let starts = report.epochStarts
        chart.markers.append(Marker(x: nil, label: "epoch \(report.steps[0].epoch + 1)", color: epochColor, dash: "5 4", row: 0))
        for e in starts {
            chart.markers.append(Marker(x: Double(e.step) - 0.5, label: "epoch \(e.epoch + 1)", color: epochColor, dash: "5 4", row: 0))
        }
        for r in report.resumes {
            chart.markers.append(Marker(x: Double(r.step) + 0.5, label: "resumed (step \(r.step))", color: resumeColor, dash: nil, row: 1))
        }
        if !starts.isEmpty { chart.legend.append(.line("epoch start", epochColor, width: 1.2, dash: "5 4")) }
        if !report.resumes.isEmpty { chart.legend.append(.line("resumed", resumeColor, width: 1.5)) }
    }

    static func runName(_ report: RunReport) -> String {
        URL(fileURLWithPath: report.directory).standardized.lastPathComponent
    }

    static func stepsText(_ s: RunReport.Summary) -> String {
        s.totalSteps.map { "\(s.stepsDone) of \($0) steps" } ?? "\(s.stepsDone) steps"
    }

    static func superscript(_ n: Int) -> String {
        let digits: [Character: Character] = ["0": "⁰", "1": "¹", "2": "²", "3": "³", "4": "⁴", "5": "⁵",
                                              "6": "⁶", "7": "⁷", "8": "⁸", "9": "⁹", "-": "⁻"]
        return String(String(n).map { digits[$0] ?? $0 })
    }

    // MARK: - Drawing primitives

    /// Coordinates with at most two decimals, no trailing zeros ("12.5", "300").
    static func f(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        if r == r.rounded() { return String(Int(r)) }
        var s = String(format: "%.2f", r)
        while s.hasSuffix("0") { s.removeLast() }
        return s
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func text(_ x: Double, _ y: Double, _ s: String, size: Double, anchor: String, color: String = "#222",
                     weight: String? = nil, rotate: Bool = false, halo: Bool = false) -> String {
        var out = "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\" text-anchor=\"\(anchor)\" fill=\"\(color)\""
        // a white outline under the glyphs keeps a label legible where it crosses a line
        if halo { out += " stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\"" }
        if let weight { out += " font-weight=\"\(weight)\"" }
        if rotate { out += " transform=\"rotate(-90 \(f(x)) \(f(y)))\"" }
        return out + ">\(escape(s))</text>\n"
    }

    /// Rough width of `s` at `size` px in DejaVu Sans (generous, so labels do not collide).
    static func textWidth(_ s: String, size: Double) -> Double { Double(s.count) * 0.6 * size }

    /// A linear axis with "nice" ticks covering [lo, hi], or a logarithmic one over whole decades.
    struct Axis {
        var lo: Double
        var hi: Double
        var ticks: [Double]
        var decimals: Int
        var logarithmic = false

        /// Where `v` falls between lo (0) and hi (1).
        func fraction(_ v: Double) -> Double {
            guard logarithmic else { return (v - lo) / (hi - lo) }
            return (log10(max(v, lo * 1e-3)) - log10(lo)) / (log10(hi) - log10(lo))
        }

        /// A full run's loss falls from ≈4.6 to ≈0.003 in its first epoch; on a linear axis the
        /// last two epochs would be a flat line on the floor. Past two decades between the
        /// highest and the lowest loss the axis is logarithmic (at most six decades down from
        /// the top, so a single near-zero step cannot squash the rest).
        static func forLosses(_ losses: [Double]) -> Axis {
            let positive = losses.filter { $0 > 0 }
            guard let top = positive.max(), let bottom = positive.min(), top / bottom > 100 else {
                return Axis(lo: 0, hi: losses.max() ?? 1, integer: false, target: 6)
            }
            let hiExp = Int(ceil(log10(top) - 1e-9)), loExp = max(Int(floor(log10(bottom) + 1e-9)), hiExp - 6)
            return Axis(decades: loExp...hiExp)
        }

        /// Logarithmic, from 10^first to 10^last; a tick at every decade.
        init(decades: ClosedRange<Int>) {
            lo = pow(10, Double(decades.lowerBound))
            hi = pow(10, Double(max(decades.upperBound, decades.lowerBound + 1)))
            ticks = (decades.lowerBound...max(decades.upperBound, decades.lowerBound + 1)).map { pow(10, Double($0)) }
            decimals = max(0, -decades.lowerBound)
            logarithmic = true
        }

        init(lo: Double = 0, hi: Double = 1, integer: Bool = false, target: Int = 6) {
            var lo = lo, hi = hi
            if !(hi > lo) { hi = lo + (integer ? 1 : max(abs(lo), 1)) }
            let raw = (hi - lo) / Double(target)
            let magnitude = pow(10, floor(log10(raw)))
            var step = magnitude * 10
            for m in [1.0, 2.0, 2.5, 5.0, 10.0] where !(integer && m == 2.5) {
                if magnitude * m >= raw { step = magnitude * m; break }
            }
            if integer { step = max(1, step.rounded()) }
            lo = floor(lo / step + 1e-9) * step
            hi = ceil(hi / step - 1e-9) * step
            self.lo = lo
            self.hi = hi
            let n = Int(((hi - lo) / step).rounded())
            ticks = (0...n).map { lo + Double($0) * step }
            decimals = integer ? 0 : max(0, Int(ceil(-log10(step) - 1e-9)) + (abs(step / pow(10, floor(log10(step))) - 2.5) < 1e-9 ? 1 : 0))
        }

        func label(_ v: Double) -> String {
            // a decade's label carries only its own digits: 0.001, 0.01, 0.1, 1, 10
            let places = logarithmic ? max(0, -Int(floor(log10(v) + 1e-9))) : decimals
            let s = String(format: "%.\(places)f", v)
            return s == "-0" ? "0" : s
        }
    }

    struct Marker {
        /// nil: a label at the left edge only (the epoch the plot starts in).
        var x: Double?
        var label: String
        var color: String
        var dash: String?
        var row: Int
    }

    enum LegendItem {
        case line(String, String, width: Double, opacity: Double = 1, dash: String? = nil, dot: Bool = false)
        case dot(String, String)

        var label: String {
            switch self {
            case .line(let l, _, _, _, _, _), .dot(let l, _): return l
            }
        }
    }

    struct Chart {
        var title: String
        var xTitle: String
        var yTitle: String
        var x = Axis()
        var y = Axis()
        var right: Axis?
        var rightTitle = ""
        var rightScale = 1.0
        var rightColor = "#222"
        var legend: [LegendItem] = []
        var markers: [Marker] = []
        var body = ""
        /// Drawn over the data without clipping (labels).
        var overlay = ""

        let plotLeft = 78.0
        var plotRight: Double { width - (right == nil ? 30 : 82) }
        var plotBottom: Double { height - 58 }
        /// Marker labels sit in a band between the legend and the plot, one row per kind
        /// (epochs, resumes), so they never cover the data.
        var markerRows: Int { markers.isEmpty ? 0 : (markers.map(\.row).max() ?? 0) + 1 }
        var plotTop: Double { 44 + Double(legendRows.count) * 18 + 4 + Double(markerRows) * 15 }

        init(title: String, xTitle: String, yTitle: String) {
            self.title = title
            self.xTitle = xTitle
            self.yTitle = yTitle
        }

        /// Legend items laid out left to right, wrapped to the picture width.
        var legendRows: [[(LegendItem, Double)]] {
            var rows: [[(LegendItem, Double)]] = [[]]
            var cursor = plotLeft
            for item in legend {
                let w = 30 + textWidth(item.label, size: 12) + 22
                if cursor + w > width - 12 && !rows[rows.count - 1].isEmpty {
                    rows.append([])
                    cursor = plotLeft
                }
                rows[rows.count - 1].append((item, cursor))
                cursor += w
            }
            return rows.filter { !$0.isEmpty }
        }

        func point(_ vx: Double, _ vy: Double, right: Bool = false) -> (Double, Double) {
            let axis = right ? self.right! : y
            let px = plotLeft + x.fraction(vx) * (plotRight - plotLeft)
            let py = plotBottom - axis.fraction(vy) * (plotBottom - plotTop)
            return (px, py)
        }

        func polyline(_ points: [(Double, Double)], color: String, width: Double, opacity: Double = 1,
                      dash: String? = nil, right: Bool = false) -> String {
            let finite = points.filter { $0.0.isFinite && $0.1.isFinite }
            guard !finite.isEmpty else { return "" }
            let coords = finite.map { p -> String in
                let (px, py) = point(p.0, p.1, right: right)
                return "\(f(px)),\(f(py))"
            }.joined(separator: " ")
            var s = "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(f(width))\" stroke-linejoin=\"round\""
            if opacity < 1 { s += " stroke-opacity=\"\(f(opacity))\"" }
            if let dash { s += " stroke-dasharray=\"\(dash)\"" }
            return s + " points=\"\(coords)\"/>\n"
        }

        func dot(_ vx: Double, _ vy: Double, color: String, radius: Double = 4.5, tooltip: String) -> String {
            let (px, py) = point(vx, vy)
            return "<circle cx=\"\(f(px))\" cy=\"\(f(py))\" r=\"\(f(radius))\" fill=\"\(color)\" stroke=\"#fff\" stroke-width=\"1\">"
                + "<title>\(escape(tooltip))</title></circle>\n"
        }

        func render() -> String {
            var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" "
            s += "viewBox=\"0 0 \(f(width)) \(f(height))\" font-family=\"\(fontFamily)\">\n"
            s += "<title>\(escape(title))</title>\n"
            s += "<rect x=\"0\" y=\"0\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"#ffffff\"/>\n"
            s += text(plotLeft, 24, title, size: 16, anchor: "start", weight: "bold")

            // legend
            s += "<g class=\"legend\">\n"
            for (r, row) in legendRows.enumerated() {
                let ly = 44 + Double(r) * 18
                for (item, lx) in row {
                    switch item {
                    case .line(let label, let color, let w, let opacity, let dash, let dot):
                        var l = "<line x1=\"\(f(lx))\" y1=\"\(f(ly - 4))\" x2=\"\(f(lx + 24))\" y2=\"\(f(ly - 4))\" stroke=\"\(color)\" stroke-width=\"\(f(max(w, 1.2)))\""
                        if opacity < 1 { l += " stroke-opacity=\"\(f(max(opacity, 0.6)))\"" }
                        if let dash { l += " stroke-dasharray=\"\(dash)\"" }
                        s += l + "/>\n"
                        if dot { s += "<circle cx=\"\(f(lx + 12))\" cy=\"\(f(ly - 4))\" r=\"3.5\" fill=\"\(color)\"/>\n" }
                        s += text(lx + 30, ly, label, size: 12, anchor: "start")
                    case .dot(let label, let color):
                        s += "<circle cx=\"\(f(lx + 12))\" cy=\"\(f(ly - 4))\" r=\"4.5\" fill=\"\(color)\"/>\n"
                        s += text(lx + 30, ly, label, size: 12, anchor: "start")
                    }
                }
            }
            s += "</g>\n"

            // grid, axes and ticks
            s += "<g class=\"axes\">\n"
            for t in y.ticks {
                let (_, py) = point(x.lo, t)
                s += "<line x1=\"\(f(plotLeft))\" y1=\"\(f(py))\" x2=\"\(f(plotRight))\" y2=\"\(f(py))\" stroke=\"#e3e3e3\" stroke-width=\"1\"/>\n"
                s += "<line x1=\"\(f(plotLeft - 5))\" y1=\"\(f(py))\" x2=\"\(f(plotLeft))\" y2=\"\(f(py))\" stroke=\"#444\" stroke-width=\"1\"/>\n"
                s += text(plotLeft - 8, py + 4, y.label(t), size: 12, anchor: "end")
            }
            for t in x.ticks {
                let (px, _) = point(t, y.lo)
                s += "<line x1=\"\(f(px))\" y1=\"\(f(plotBottom))\" x2=\"\(f(px))\" y2=\"\(f(plotBottom + 5))\" stroke=\"#444\" stroke-width=\"1\"/>\n"
                s += text(px, plotBottom + 19, x.label(t), size: 12, anchor: "middle")
            }
            s += "<rect x=\"\(f(plotLeft))\" y=\"\(f(plotTop))\" width=\"\(f(plotRight - plotLeft))\" height=\"\(f(plotBottom - plotTop))\" fill=\"none\" stroke=\"#444\" stroke-width=\"1\"/>\n"
            s += text((plotLeft + plotRight) / 2, height - 14, xTitle, size: 13, anchor: "middle")
            s += text(22, (plotTop + plotBottom) / 2, yTitle, size: 13, anchor: "middle", rotate: true)
            if let right {
                for t in right.ticks {
                    let (_, py) = point(x.lo, t, right: true)
                    s += "<line x1=\"\(f(plotRight))\" y1=\"\(f(py))\" x2=\"\(f(plotRight + 5))\" y2=\"\(f(py))\" stroke=\"\(rightColor)\" stroke-width=\"1\"/>\n"
                    s += text(plotRight + 8, py + 4, right.label(t), size: 12, anchor: "start", color: rightColor)
                }
                s += text(width - 18, (plotTop + plotBottom) / 2, rightTitle, size: 13, anchor: "middle", color: rightColor, rotate: true)
            }
            s += "</g>\n"

            // markers (under the data, above the grid)
            s += "<defs><clipPath id=\"plot-area\"><rect x=\"\(f(plotLeft))\" y=\"\(f(plotTop))\" width=\"\(f(plotRight - plotLeft))\" height=\"\(f(plotBottom - plotTop))\"/></clipPath></defs>\n"
            s += "<g class=\"markers\">\n"
            for m in markers {
                let ly = plotTop - 4 - Double(m.row) * 15
                guard let mx = m.x else {
                    s += text(plotLeft + 2, ly, m.label, size: 11, anchor: "start", color: m.color)
                    continue
                }
                let (px, _) = point(mx, y.lo)
                guard px >= plotLeft && px <= plotRight else { continue }
                var l = "<line x1=\"\(f(px))\" y1=\"\(f(ly - 9))\" x2=\"\(f(px))\" y2=\"\(f(plotBottom))\" stroke=\"\(m.color)\" stroke-width=\"1.3\""
                if let dash = m.dash { l += " stroke-dasharray=\"\(dash)\"" }
                s += l + "/>\n"
                // label on the right of the line, or on its left near the right edge
                let fits = px + 4 + textWidth(m.label, size: 11) <= plotRight - 2
                s += text(fits ? px + 4 : px - 4, ly, m.label, size: 11, anchor: fits ? "start" : "end", color: m.color)
            }
            s += "</g>\n"

            s += "<g class=\"data\" clip-path=\"url(#plot-area)\">\n" + body + "</g>\n"
            if !overlay.isEmpty { s += "<g class=\"labels\">\n" + overlay + "</g>\n" }
            s += "</svg>\n"
            return s
        }
    }
}
