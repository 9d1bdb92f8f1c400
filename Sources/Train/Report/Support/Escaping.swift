/// `text` with each scalar found in `replacements` replaced by its string: the one escaping
/// loop behind XML text in the SVG pictures and the one-line output of `ft-dist predict`.
public func escaping(_ text: String, _ replacements: [Unicode.Scalar: String]) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        if let replacement = replacements[scalar] { out += replacement } else { out.unicodeScalars.append(scalar) }
    }
    return out
}
