// swift-tools-version:6.0
import PackageDescription

// Layout fixed by the design card (docs/DESIGN.md, "Layout"): library modules with one-way
// dependencies (Train → Model, Train → Distributed, Train → Report) and a thin executable.
// Report (Sources/Train/Report) is the run directory's schema, its records and the pages
// rendered from them; it depends on Foundation alone, so neither BLAS nor MPI reaches it.

// ModelKernels (Sources/Model/Kernels): inference's inner loops over ggml blocks, compiled for
// AVX2 + FMA + F16C on x86-64 — the only module with CPU flags beyond baseline x86-64. Model calls
// it only when the CPU has them (VectorKernels.available) and otherwise runs its scalar code.
// KernelsInC (Sources/Model/KernelsInC): the loops Swift cannot express (a software prefetch, AVX2's
// byte multiply-adds), in C with the same flags; ModelKernels wraps them.
#if arch(x86_64)
let vectorFlags: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c"])]
let vectorCFlags: [CSetting] = [.unsafeFlags(["-mavx2", "-mfma", "-mf16c"])]
#else
let vectorFlags: [SwiftSetting] = []
let vectorCFlags: [CSetting] = []
#endif

let package = Package(
    name: "ft-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ft-dist", targets: ["FTDist"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C shims: OpenMPI's handles are macros Swift cannot import, the shim header wraps them.
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .target(name: "Distributed", dependencies: ["CMPI"]),
        .target(name: "KernelsInC", path: "Sources/Model/KernelsInC", cSettings: vectorCFlags),
        .target(name: "ModelKernels", dependencies: ["KernelsInC"], path: "Sources/Model/Kernels", swiftSettings: vectorFlags),
        .target(name: "Model", dependencies: ["CBLAS", "ModelKernels"], exclude: ["Kernels", "KernelsInC"]),
        .target(name: "Report", path: "Sources/Train/Report"),
        .target(name: "Train", dependencies: ["Model", "Distributed", "Report"], exclude: ["Report"]),
        .executableTarget(name: "FTDist",
                          dependencies: ["Train", "Report", "Model", "Distributed",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Shared by the test targets: paths, the tiny random Gemma model, deterministic randomness.
        .target(name: "TestSupport", dependencies: ["Model"], path: "Tests/TestSupport"),
        .testTarget(name: "ModelTests", dependencies: ["Model", "ModelKernels", "TestSupport"], exclude: ["Fixtures"]),
        // Fixtures/: small files made once by bench/ scripts with the peers, read by path
        .testTarget(name: "TrainTests", dependencies: ["Train", "Report", "Model", "ModelKernels", "Distributed", "TestSupport"],
                    exclude: ["Fixtures"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "TestSupport"]),
        .testTarget(name: "ReportTests", dependencies: ["Report", "Train", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
