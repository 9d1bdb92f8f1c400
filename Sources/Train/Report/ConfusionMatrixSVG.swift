import Foundation

// Confusion matrix as a self-contained SVG picture (no scripts, no external fonts/CSS), so it
// renders the same in a browser, in a Markdown viewer and in rsvg-convert.
//
// Layout (sizes sized for 77 Banking77 intents, all names legible):
//   title + summary line
//   "predicted intent" caption, column names rotated -90° above the grid
//   "gold intent" caption (rotated) + row names right-aligned left of the grid
//   k×k grid of cells, then a separate "(invalid)" column for non-intent outputs
//   legend below the grid
// Colours: diagonal (correct) cells in a blue scale by the share of the gold row that is
// correct; off-diagonal (error) cells in an orange→red scale by count relative to the largest
// error cell; invalid outputs in a purple scale; zero cells stay white on a light grid. Every
// nonzero cell shows its count, and carries a <title> tooltip "gold → predicted: n".
// Output depends only on the input (fixed number formatting, no ids from randomness).
public enum ConfusionMatrixSVG {
    // Geometry in px. Cells of 16 px leave room for a two-digit 9 px count; 10 px labels.
    static let cell = 16
    static let labelFont = 10.0
    static let countFont = 9.0
    static let pad = 16
    /// Width of one character of the label font, deliberately generous (DejaVu Sans lowercase
    /// averages ~0.6 em) so long names never run into the grid or out of the picture.
    static let charWidth = 0.62 * labelFont
    static let fontFamily = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"

    public static func render(_ matrix: ConfusionMatrix, title: String = "Confusion matrix") -> String {
        let k = matrix.labels.count
        let longest = (matrix.labels + ["(invalid)"]).map { $0.count }.max() ?? 0
        let labelSpace = Int((Double(longest) * charWidth).rounded(.up)) + 6

        let titleHeight = 50          // title (18 px) + summary line (12 px)
        let captionHeight = 22        // axis caption (13 px)
        let gridLeft = pad + captionHeight + labelSpace
        let gridTop = pad + titleHeight + captionHeight + labelSpace
        let gridSize = k * cell
        let invalidLeft = gridLeft + gridSize + 8
        let gridRight = invalidLeft + cell
        let legendTop = gridTop + gridSize + 28
        let legendHeight = 96
        let width = max(gridRight + pad + 8, gridLeft + 560)
        let height = legendTop + legendHeight + pad

        let total = matrix.total
        let correct = (0..<k).reduce(0) { $0 + matrix.counts[$1][$1] }
        let invalid = matrix.invalidCounts.reduce(0, +)
        var maxError = 0
        for g in 0..<k { for p in 0..<k where p != g { maxError = max(maxError, matrix.counts[g][p]) } }
        let maxInvalid = matrix.invalidCounts.max() ?? 0

        var s = ""
        s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" "
        s += "viewBox=\"0 0 \(width) \(height)\" font-family=\"\(fontFamily)\">\n"
        s += "<rect x=\"0\" y=\"0\" width=\"\(width)\" height=\"\(height)\" fill=\"#ffffff\"/>\n"

        // Title and one-line summary.
        s += "<text x=\"\(pad)\" y=\"\(pad + 18)\" font-size=\"18\" font-weight=\"bold\" fill=\"#222222\">\(xml(title))</text>\n"
        let summary = "\(total) examples · \(k) intents · accuracy \(percent(correct, total))"
            + " · invalid outputs \(invalid) (\(percent(invalid, total)))"
        s += "<text x=\"\(pad)\" y=\"\(pad + 38)\" font-size=\"12\" fill=\"#555555\">\(xml(summary))</text>\n"

        // Axis captions.
        let captionY = pad + titleHeight + 14
        s += "<text x=\"\(gridLeft + gridSize / 2)\" y=\"\(captionY)\" font-size=\"13\" font-weight=\"bold\" "
        s += "text-anchor=\"middle\" fill=\"#333333\">predicted intent ↓</text>\n"
        let goldX = pad + 14, goldY = gridTop + gridSize / 2
        s += "<text transform=\"translate(\(goldX),\(goldY)) rotate(-90)\" font-size=\"13\" font-weight=\"bold\" "
        s += "text-anchor=\"middle\" fill=\"#333333\">gold intent →</text>\n"

        // Column labels (rotated -90°, reading bottom-up, ending just above the grid) and row
        // labels (right-aligned against the grid). The baseline is shifted by ~0.35 em so the
        // glyphs sit centred on their column/row.
        let baseline = 0.35 * labelFont
        s += "<g font-size=\"\(fmt(labelFont))\" fill=\"#222222\">\n"
        for (i, name) in matrix.labels.enumerated() {
            let cx = Double(gridLeft + i * cell) + Double(cell) / 2 + baseline
            s += "<text transform=\"translate(\(fmt(cx)),\(gridTop - 4)) rotate(-90)\">\(xml(name))</text>\n"
        }
        let ix = Double(invalidLeft) + Double(cell) / 2 + baseline
        s += "<text transform=\"translate(\(fmt(ix)),\(gridTop - 4)) rotate(-90)\" fill=\"#54278f\">(invalid)</text>\n"
        for (i, name) in matrix.labels.enumerated() {
            let cy = Double(gridTop + i * cell) + Double(cell) / 2 + baseline
            s += "<text x=\"\(gridLeft - 4)\" y=\"\(fmt(cy))\" text-anchor=\"end\">\(xml(name))</text>\n"
        }
        s += "</g>\n"

        // Zero cells: a white background with a light grid; every 10th line a bit darker so a
        // row can be followed across 77 columns.
        s += "<rect x=\"\(gridLeft)\" y=\"\(gridTop)\" width=\"\(gridSize)\" height=\"\(gridSize)\" fill=\"#ffffff\"/>\n"
        s += "<rect x=\"\(invalidLeft)\" y=\"\(gridTop)\" width=\"\(cell)\" height=\"\(gridSize)\" fill=\"#ffffff\"/>\n"

        // Nonzero cells with their counts.
        s += "<g font-size=\"\(fmt(countFont))\" text-anchor=\"middle\">\n"
        for g in 0..<k {
            for p in 0..<k where matrix.counts[g][p] > 0 {
                let n = matrix.counts[g][p]
                let (fill, ink): (String, String)
                if g == p {
                    let t = Double(n) / Double(max(1, matrix.support(g)))
                    (fill, ink) = (blue(t), t > 0.45 ? "#ffffff" : "#08306b")
                } else {
                    let t = errorShade(n, max: maxError)
                    (fill, ink) = (red(t), t > 0.5 ? "#ffffff" : "#67000d")
                }
                s += cellMarkup(x: gridLeft + p * cell, y: gridTop + g * cell, count: n, fill: fill, ink: ink,
                                tooltip: "\(matrix.labels[g]) → \(matrix.labels[p]): \(n)")
            }
            let n = matrix.invalidCounts[g]
            if n > 0 {
                let t = errorShade(n, max: maxInvalid)
                s += cellMarkup(x: invalidLeft, y: gridTop + g * cell, count: n, fill: purple(t),
                                ink: t > 0.5 ? "#ffffff" : "#3f007d",
                                tooltip: "\(matrix.labels[g]) → (invalid output): \(n)")
            }
        }
        s += "</g>\n"

        // Grid lines on top of the cells (thin, light) and a frame around each block.
        s += "<g stroke-width=\"0.5\">\n"
        for i in 0...k {
            let color = i % 10 == 0 ? "#b0b0b0" : "#e2e2e2"
            let x = gridLeft + i * cell, y = gridTop + i * cell
            s += "<line x1=\"\(x)\" y1=\"\(gridTop)\" x2=\"\(x)\" y2=\"\(gridTop + gridSize)\" stroke=\"\(color)\"/>\n"
            s += "<line x1=\"\(gridLeft)\" y1=\"\(y)\" x2=\"\(gridLeft + gridSize)\" y2=\"\(y)\" stroke=\"\(color)\"/>\n"
            s += "<line x1=\"\(invalidLeft)\" y1=\"\(y)\" x2=\"\(gridRight)\" y2=\"\(y)\" stroke=\"\(color)\"/>\n"
        }
        s += "</g>\n"
        s += "<rect x=\"\(gridLeft)\" y=\"\(gridTop)\" width=\"\(gridSize)\" height=\"\(gridSize)\" fill=\"none\" stroke=\"#606060\" stroke-width=\"1\"/>\n"
        s += "<rect x=\"\(invalidLeft)\" y=\"\(gridTop)\" width=\"\(cell)\" height=\"\(gridSize)\" fill=\"none\" stroke=\"#606060\" stroke-width=\"1\"/>\n"

        s += legend(x: gridLeft, y: legendTop, maxError: maxError, maxInvalid: maxInvalid)
        s += "</svg>\n"
        return s
    }

    // MARK: - Legend

    /// Three swatch rows that use the same colour functions as the cells.
    static func legend(x: Int, y: Int, maxError: Int, maxInvalid: Int) -> String {
        let sw = 22
        var s = "<g font-size=\"11\" fill=\"#222222\">\n"
        s += "<text x=\"\(x)\" y=\"\(y)\" font-size=\"12\" font-weight=\"bold\">Legend</text>\n"

        func row(_ row: Int, caption: String, swatches: [(fill: String, label: String)]) {
            let top = y + 10 + row * 28
            s += "<text x=\"\(x)\" y=\"\(top + 14)\">\(xml(caption))</text>\n"
            var sx = x + 250
            for (fill, label) in swatches {
                s += "<rect x=\"\(sx)\" y=\"\(top)\" width=\"\(sw)\" height=\"\(cell)\" fill=\"\(fill)\" stroke=\"#999999\" stroke-width=\"0.5\"/>\n"
                s += "<text x=\"\(sx + sw + 4)\" y=\"\(top + 12)\" font-size=\"10\" fill=\"#444444\">\(xml(label))</text>\n"
                sx += sw + 10 + Int((Double(label.count) * 6.2).rounded(.up))
            }
        }

        row(0, caption: "correct (diagonal), share of gold row:",
            swatches: [0.2, 0.4, 0.6, 0.8, 1.0].map { (blue($0), "\(Int(($0 * 100).rounded()))%") })
        row(1, caption: "error (gold ≠ predicted), count:",
            swatches: errorLegendCounts(max: maxError).map { (red(errorShade($0, max: maxError)), String($0)) }
                + [("#ffffff", "0 (any cell)")])
        row(2, caption: "output is not an intent name, count:",
            swatches: errorLegendCounts(max: maxInvalid).map { (purple(errorShade($0, max: maxInvalid)), String($0)) })
        s += "</g>\n"
        return s
    }

    /// Up to five representative counts 1…max for the legend (distinct, ascending).
    static func errorLegendCounts(max m: Int) -> [Int] {
        guard m > 0 else { return [1] }
        var counts: [Int] = []
        for f in [0.0, 0.25, 0.5, 0.75, 1.0] {
            let c = 1 + Int((Double(m - 1) * f).rounded())
            if counts.last != c { counts.append(c) }
        }
        return counts
    }

    // MARK: - Colours

    /// 0…1 position of an error count in its scale. Square root, so the many 1–2 counts are
    /// still clearly coloured while the worst cells get the darkest shade; a count of 1 starts
    /// at 0.15 rather than 0 so it never looks white.
    static func errorShade(_ n: Int, max m: Int) -> Double {
        guard m > 1 else { return 0.15 }
        let t = (Double(n - 1) / Double(m - 1)).squareRoot()
        return 0.15 + 0.85 * min(1, max(0, t))
    }

    static func blue(_ t: Double) -> String { ramp(t, from: (0xc6, 0xdb, 0xef), to: (0x08, 0x30, 0x6b)) }
    static func red(_ t: Double) -> String { ramp(t, from: (0xfe, 0xd9, 0x76), to: (0xb1, 0x00, 0x26), via: (0xfd, 0x8d, 0x3c)) }
    static func purple(_ t: Double) -> String { ramp(t, from: (0xda, 0xda, 0xeb), to: (0x54, 0x27, 0x8f)) }

    static func ramp(_ t: Double, from a: (Int, Int, Int), to b: (Int, Int, Int), via m: (Int, Int, Int)? = nil) -> String {
        let t = min(1, max(0, t))
        func mix(_ x: (Int, Int, Int), _ y: (Int, Int, Int), _ u: Double) -> (Int, Int, Int) {
            func c(_ p: Int, _ q: Int) -> Int { Int((Double(p) + (Double(q) - Double(p)) * u).rounded()) }
            return (c(x.0, y.0), c(x.1, y.1), c(x.2, y.2))
        }
        let rgb: (Int, Int, Int)
        if let m = m {
            rgb = t < 0.5 ? mix(a, m, t * 2) : mix(m, b, (t - 0.5) * 2)
        } else {
            rgb = mix(a, b, t)
        }
        return "#" + [rgb.0, rgb.1, rgb.2].map { hex2($0) }.joined()
    }

    // MARK: - Text helpers

    static func cellMarkup(x: Int, y: Int, count: Int, fill: String, ink: String, tooltip: String) -> String {
        let tx = x + cell / 2
        let ty = fmt(Double(y) + Double(cell) / 2 + 0.35 * countFont)
        return "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"\(fill)\"><title>\(xml(tooltip))</title></rect>"
            + "<text x=\"\(tx)\" y=\"\(ty)\" fill=\"\(ink)\">\(count)</text>\n"
    }

    static func hex2(_ v: Int) -> String {
        let digits = Array("0123456789abcdef")
        let v = min(255, max(0, v))
        return String([digits[v / 16], digits[v % 16]])
    }

    /// Fixed-point with one decimal, independent of locale.
    static func fmt(_ v: Double) -> String {
        let tenths = Int((v * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        let a = abs(tenths)
        return a % 10 == 0 ? "\(sign)\(a / 10)" : "\(sign)\(a / 10).\(a % 10)"
    }

    static func percent(_ a: Int, _ b: Int) -> String {
        guard b > 0 else { return "n/a" }
        return fmt(100 * Double(a) / Double(b)) + "%"
    }

    /// Escapes text for XML character data and attribute values.
    static func xml(_ text: String) -> String {
        escaping(text, ["&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&apos;"])
    }
}
