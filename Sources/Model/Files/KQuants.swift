/// The K-quant reference quantizers of ggml-quants.c for super-blocks of 256 values:
/// Q4_K (`quantize_row_q4_K_ref` with `make_qkx2_quants`) and Q6_K (`quantize_row_q6_K_ref`
/// with `make_qx_quants`). Ported operation for operation — the same fp32 expressions in the
/// same order, the same rounding (`nearestInt`) — because the scale search is sensitive to
/// both and llama-quantize's bytes are the yardstick.
enum KQuants {
    /// ggml's GROUP_MAX_EPS: below it a group counts as all zero.
    static let groupMaxEps: Float = 1e-15

    /// ggml's nearest_int: round half to even through the fp32 magic number 1.5·2²³
    /// (valid for |v| ≤ 4,194,303, which the callers guarantee).
    @inline(__always)
    static func nearestInt(_ v: Float) -> Int {
        let bits = Int32(bitPattern: (v + 12_582_912).bitPattern)
        return Int((bits & 0x007F_FFFF) - 0x0040_0000)
    }

    // MARK: Q4_K

    /// One Q4_K block: 8 sub-blocks of 32 values, each x ≈ d·sc·q − dmin·m with 4-bit q and
    /// 6-bit sc, m packed into 12 bytes; d and dmin fp16.
    static func q4_K(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var levels = [UInt8](repeating: 0, count: 256)
        var aux = [UInt8](repeating: 0, count: 32)
        var weights = [Float](repeating: 0, count: 32)
        var mins = [Float](repeating: 0, count: 8)
        var scales = [Float](repeating: 0, count: 8)
        var maxScale: Float = 0, maxMin: Float = 0
        for j in 0..<8 {
            let xs = x + 32 * j
            var sumX2: Float = 0
            for l in 0..<32 { sumX2 += xs[l] * xs[l] }
            let avX = (sumX2 / 32).squareRoot()
            for l in 0..<32 { weights[l] = avX + abs(xs[l]) }
            levels.withUnsafeMutableBufferPointer { L in
                scales[j] = makeQKX2Quants(n: 32, nmax: 15, x: xs, weights: weights, levels: L.baseAddress! + 32 * j,
                                           theMin: &mins[j], aux: &aux, rmin: -1, rdelta: 0.1, nstep: 20)
            }
            if scales[j] > maxScale { maxScale = scales[j] }
            if mins[j] > maxMin { maxMin = mins[j] }
        }
        let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
        let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
        var packed = [UInt8](repeating: 0, count: 12)
        for j in 0..<8 {
            let ls = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
            let lm = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
            if j < 4 {
                packed[j] = ls
                packed[j + 4] = lm
            } else {
                packed[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4)
                packed[j - 4] |= (ls >> 4) << 6
                packed[j] |= (lm >> 4) << 6
            }
        }
        let dHalf = floatToHalf(maxScale / 63), dminHalf = floatToHalf(maxMin / 63)
        let d16 = halfToFloat(dHalf), dmin16 = halfToFloat(dminHalf)
        packed.withUnsafeBufferPointer { p in
            for j in 0..<8 {
                let (sc, m) = Dequantize.scaleMin(j, p.baseAddress!)
                let d = d16 * Float(sc)
                if d == 0 { continue }
                let dm = dmin16 * Float(m)
                for ii in 0..<32 { levels[32 * j + ii] = UInt8(max(0, min(15, nearestInt((x[32 * j + ii] + dm) / d)))) }
            }
        }
        out.storeBytes(of: dHalf.littleEndian, as: UInt16.self)
        out.storeBytes(of: dminHalf.littleEndian, toByteOffset: 2, as: UInt16.self)
        for i in 0..<12 { out.storeBytes(of: packed[i], toByteOffset: 4 + i, as: UInt8.self) }
        var q = 16
        for j in stride(from: 0, to: 256, by: 64) {
            for l in 0..<32 { out.storeBytes(of: levels[j + l] | (levels[j + l + 32] << 4), toByteOffset: q + l, as: UInt8.self) }
            q += 32
        }
    }

    /// ggml's make_qkx2_quants: the scale and min (returned as −min in `theMin`) of an
    /// asymmetric `nmax`-level quantization of `n` values minimising the weighted squared
    /// error, searched over `nstep + 1` candidate scales around nmax / (max − min).
    static func makeQKX2Quants(n: Int, nmax: Int, x: UnsafePointer<Float>, weights: [Float], levels L: UnsafeMutablePointer<UInt8>,
                               theMin: inout Float, aux: inout [UInt8], rmin: Float, rdelta: Float, nstep: Int) -> Float {
        var minValue = x[0], maxValue = x[0]
        var sumW = weights[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < minValue { minValue = x[i] }
            if x[i] > maxValue { maxValue = x[i] }
            let w = weights[i]
            sumW += w
            sumX += w * x[i]
        }
        if minValue > 0 { minValue = 0 }
        if maxValue == minValue {
            for i in 0..<n { L[i] = 0 }
            theMin = -minValue
            return 0
        }
        let fmax = Float(nmax)
        var iscale = fmax / (maxValue - minValue)
        var scale = 1 / iscale
        var bestError: Float = 0
        for i in 0..<n {
            let l = nearestInt(iscale * (x[i] - minValue))
            L[i] = UInt8(max(0, min(nmax, l)))
            let diff = scale * Float(L[i]) + minValue - x[i]
            bestError += weights[i] * (diff * diff)
        }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + fmax) / (maxValue - minValue)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = max(0, min(nmax, nearestInt(iscale * (x[i] - minValue))))
                aux[i] = UInt8(l)
                let w = weights[i], fl = Float(l)
                sumL += w * fl
                sumL2 += w * fl * fl
                sumXL += w * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var curError: Float = 0
                for i in 0..<n {
                    let diff = thisScale * Float(aux[i]) + thisMin - x[i]
                    curError += weights[i] * (diff * diff)
                }
                if curError < bestError {
                    for i in 0..<n { L[i] = aux[i] }
                    bestError = curError
                    scale = thisScale
                    minValue = thisMin
                }
            }
        }
        theMin = -minValue
        return scale
    }

    // MARK: Q6_K

    /// One Q6_K block: 16 groups of 16 values, x ≈ d·sc·(q − 32) with 6-bit q (low nibbles in
    /// ql, high bit pairs in qh) and int8 sc; d fp16.
    static func q6_K(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var levels = [Int8](repeating: 0, count: 256)
        var scales = [Float](repeating: 0, count: 16)
        var maxScale: Float = 0, maxAbsScale: Float = 0
        levels.withUnsafeMutableBufferPointer { L in
            for ib in 0..<16 {
                let scale = makeQXQuants(n: 16, nmax: 32, x: x + 16 * ib, levels: L.baseAddress! + 16 * ib)
                scales[ib] = scale
                if abs(scale) > maxAbsScale {
                    maxAbsScale = abs(scale)
                    maxScale = scale
                }
            }
        }
        if maxAbsScale < groupMaxEps {
            out.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
            return
        }
        let iscale = -128 / maxScale
        let dHalf = floatToHalf(1 / iscale)
        let d16 = halfToFloat(dHalf)
        var sc = [Int8](repeating: 0, count: 16)
        for ib in 0..<16 { sc[ib] = Int8(max(-128, min(127, nearestInt(iscale * scales[ib])))) }
        for j in 0..<16 {
            let d = d16 * Float(sc[j])
            if d == 0 { continue }
            for ii in 0..<16 { levels[16 * j + ii] = Int8(max(-32, min(31, nearestInt(x[16 * j + ii] / d))) + 32) }
        }
        var ql = 0, qh = 128
        for j in stride(from: 0, to: 256, by: 128) {
            for l in 0..<32 {
                let L = { (i: Int) in UInt8(bitPattern: levels[j + l + i]) }
                out.storeBytes(of: (L(0) & 0xF) | ((L(64) & 0xF) << 4), toByteOffset: ql + l, as: UInt8.self)
                out.storeBytes(of: (L(32) & 0xF) | ((L(96) & 0xF) << 4), toByteOffset: ql + l + 32, as: UInt8.self)
                out.storeBytes(of: (L(0) >> 4) | ((L(32) >> 4) << 2) | ((L(64) >> 4) << 4) | ((L(96) >> 4) << 6),
                               toByteOffset: qh + l, as: UInt8.self)
            }
            ql += 64
            qh += 32
        }
        for ib in 0..<16 { out.storeBytes(of: sc[ib], toByteOffset: 192 + ib, as: Int8.self) }
        out.storeBytes(of: dHalf.littleEndian, toByteOffset: 208, as: UInt16.self)
    }

    /// ggml's make_qx_quants with rmse_type 1 and no importance weights: the scale of a
    /// symmetric quantization of `n` values to −nmax…nmax−1 (stored + nmax in `levels`),
    /// weights x², searched over 18 candidate scales around −nmax / (the largest-magnitude value).
    static func makeQXQuants(n: Int, nmax: Int, x: UnsafePointer<Float>, levels L: UnsafeMutablePointer<Int8>) -> Float {
        var maxValue: Float = 0, amax: Float = 0
        for i in 0..<n where abs(x[i]) > amax {
            amax = abs(x[i])
            maxValue = x[i]
        }
        if amax < groupMaxEps {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let fmax = Float(nmax)
        var iscale = -fmax / maxValue
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
            L[i] = Int8(l + nmax)
            let w = x[i] * x[i], fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for step in -9...9 where step != 0 {
            iscale = -(fmax + 0.1 * Float(step)) / maxValue
            sumLX = 0
            sumL2 = 0
            for i in 0..<n {
                let l = max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))
                let w = x[i] * x[i], fl = Float(l)
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n { L[i] = Int8(nmax + max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))) }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }
}
