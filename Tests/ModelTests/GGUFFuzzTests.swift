import Foundation
import XCTest
@testable import Model
import TestSupport

/// Deterministic fuzzing of the GGUF loader: >1,000 truncated or corrupted variants of a small valid
/// tiny-model file go through GGUFFile, GemmaModel and Tokenizer. Each must load or throw a
/// ModelFileError; a trap (out-of-bounds read, overflow, failed allocation) would kill the test process.
final class GGUFFuzzTests: XCTestCase {
    struct Outcome {
        var loaded = 0, fileErrors = 0, modelErrors = 0, tokenizerErrors = 0, otherErrors = 0
        var total: Int { loaded + fileErrors + modelErrors + tokenizerErrors }
    }

    /// Load one variant; returns true when the file, the model and the tokenizer all loaded.
    @discardableResult
    func run(_ bytes: [UInt8], at path: String, _ outcome: inout Outcome, _ what: @autoclosure () -> String) -> Bool {
        GGUFTestFiles.write(bytes, to: path)
        let g: GGUFFile
        do {
            g = try GGUFFile(path: path)
        } catch let e as ModelFileError {
            XCTAssertEqual(e.file, path)
            outcome.fileErrors += 1
            return false
        } catch {
            XCTFail("\(what()): GGUFFile threw a non-ModelFileError \(error)")
            outcome.otherErrors += 1
            return false
        }
        var ok = true
        do {
            _ = try GemmaModel(gguf: g)
        } catch is ModelFileError {
            outcome.modelErrors += 1
            ok = false
        } catch {
            XCTFail("\(what()): GemmaModel threw a non-ModelFileError \(error)")
            outcome.otherErrors += 1
            ok = false
        }
        do {
            _ = try Tokenizer(gguf: g)
        } catch is ModelFileError {
            if ok { outcome.tokenizerErrors += 1 }
            ok = false
        } catch {
            XCTFail("\(what()): Tokenizer threw a non-ModelFileError \(error)")
            outcome.otherErrors += 1
            ok = false
        }
        if ok { outcome.loaded += 1 }
        return ok
    }

    func testMutatedFilesLoadOrThrow() throws {
        let dir = GGUFTestFiles.directory("fuzz")
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = dir.appendingPathComponent("tiny.gguf").path
        _ = try TinyGemma.write(config: GGUFTestFiles.smallConfig, seed: 11, to: source)
        let original = GGUFTestFiles.read(source)
        let scan = GGUFHeaderScan(original)
        let headerEnd = scan.headerEnd
        let path = dir.appendingPathComponent("variant.gguf").path
        var rng = SplitMix64(seed: 0xF022)
        let start = Date()

        var all = Outcome()
        XCTAssertTrue(run(original, at: path, &all, "original"), "the unmodified file loads")

        // 1. Truncations: every length in the first 64 bytes, random lengths inside the header,
        //    random lengths inside the data.
        var truncated = Outcome()
        var lengths = Array(0..<64)
        for _ in 0..<250 { lengths.append(64 + rng.int(headerEnd - 64)) }
        for _ in 0..<80 { lengths.append(headerEnd + rng.int(original.count - headerEnd)) }
        for n in lengths { run(Array(original[0..<n]), at: path, &truncated, "truncated at \(n)") }

        // 2. Random byte changes in the header region (1-4 bytes each, random value or one flipped bit).
        var flipped = Outcome()
        for i in 0..<300 {
            var b = original
            for _ in 0...rng.int(4) {
                let at = rng.int(headerEnd + 32)
                if rng.next() & 1 == 0 { b[at] = UInt8(truncatingIfNeeded: rng.next()) } else { b[at] ^= 1 << UInt8(rng.int(8)) }
            }
            run(b, at: path, &flipped, "byte flips #\(i)")
        }

        // 3. Counts, lengths, type tags, dims, tensor types, offsets and scalar values overwritten with
        //    extreme values; field kinds are chosen uniformly so the rare ones are hit as often as
        //    the 300 token strings.
        var overwritten = Outcome()
        let extremes: [UInt64] = [0, 1, 2, 1 << 31, (1 << 31) - 1, 1 << 32, 0xFFFF_FFFF, 1 << 63, .max, 1 << 40, 1 << 20, (1 << 20) - 1]
        let kinds = GGUFHeaderScan.Kind.allCases.filter { k in scan.fields.contains { $0.kind == k } }
        for kind in kinds {
            let fields = scan.fields.filter { $0.kind == kind }
            for i in 0..<40 {
                let f = fields[i < fields.count && i < 10 ? i : rng.int(fields.count)]
                var b = original
                let value = i < extremes.count ? extremes[i] : (rng.next() & 1 == 0 ? extremes[rng.int(extremes.count)] : rng.next())
                b.put(value, at: f.offset, size: f.size)
                run(b, at: path, &overwritten, "\(kind) of \(f.name) at \(f.offset) = \(value)")
            }
        }
        // every metadata scalar (incl. each dimension of the config) set to each extreme value
        for f in scan.fields where f.kind == .scalar && !f.name.hasPrefix("tokenizer") {
            for value in extremes {
                var b = original
                b.put(value, at: f.offset, size: f.size)
                run(b, at: path, &overwritten, "value of \(f.name) = \(value)")
            }
        }

        // 4. Duplicated key/value entries and tensor entries (count bumped to match), and counts
        //    too large by one.
        var duplicated = Outcome()
        for e in scan.kvEntries {
            var b = original
            b.insert(contentsOf: original[e.range], at: e.range.upperBound)
            b.put(UInt64(scan.kvEntries.count + 1), at: 16, size: 8)
            run(b, at: path, &duplicated, "duplicate key \(e.key)")
        }
        for e in scan.tensorEntries.prefix(8) {
            var b = original
            b.insert(contentsOf: original[e.range], at: e.range.upperBound)
            b.put(UInt64(scan.tensorEntries.count + 1), at: 8, size: 8)
            run(b, at: path, &duplicated, "duplicate tensor \(e.name)")
        }
        for (offset, count) in [(8, scan.tensorEntries.count), (16, scan.kvEntries.count)] {
            for delta in [-1, 1] {
                var b = original
                b.put(UInt64(count + delta), at: offset, size: 8)
                run(b, at: path, &duplicated, "count at \(offset) off by \(delta)")
            }
        }

        // 5. Corruption and truncation together.
        var combined = Outcome()
        for i in 0..<100 {
            var b = Array(original[0..<(headerEnd / 2 + rng.int(original.count - headerEnd / 2))])
            for _ in 0...rng.int(3) { b[rng.int(min(b.count, headerEnd))] = UInt8(truncatingIfNeeded: rng.next()) }
            run(b, at: path, &combined, "combined #\(i)")
        }

        let seconds = Date().timeIntervalSince(start)
        for (name, o) in [("truncated", truncated), ("header bytes", flipped), ("overwritten fields", overwritten),
                          ("duplicates", duplicated), ("combined", combined)] {
            all.loaded += o.loaded; all.fileErrors += o.fileErrors; all.modelErrors += o.modelErrors
            all.tokenizerErrors += o.tokenizerErrors; all.otherErrors += o.otherErrors
            print("GGUF fuzz \(name): \(o.total) variants, \(o.loaded) loaded, \(o.fileErrors) GGUF errors, "
                  + "\(o.modelErrors) model errors, \(o.tokenizerErrors) tokenizer errors")
        }
        print("GGUF fuzz total: \(all.total) variants, \(all.loaded) loaded, \(all.total - all.loaded) errored, "
              + String(format: "%.1f s", seconds))
        XCTAssertGreaterThanOrEqual(all.total, 1000)
        XCTAssertEqual(all.otherErrors, 0)
        // A truncated file can only load when the cut removes nothing the loader reads: never here,
        // since the last tensor ends at the end of the file.
        XCTAssertEqual(truncated.loaded, 0, "a truncated file loaded")
        XCTAssertEqual(truncated.total, lengths.count)
        XCTAssertGreaterThan(flipped.total - flipped.loaded, flipped.total / 2, "most header corruptions are detected")
    }
}
