import Foundation
import FuzzTargets

// libFuzzer's entry points. This target is built only with -sanitize=fuzzer (see Package.swift and
// Fuzz/fuzz.sh), which links libFuzzer; the target to run comes from POPGATE_FUZZ_TARGET.

/// The target chosen in `LLVMFuzzerInitialize`, before any input runs; libFuzzer is single-threaded.
nonisolated(unsafe) private var selected: FuzzTarget?

public typealias Arguments = UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: Arguments) -> CInt {
    let name = getenv("POPGATE_FUZZ_TARGET").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    guard let name, let target = FuzzTarget.named(name) else {
        let problem = name.map { "POPGATE_FUZZ_TARGET=\($0) is not a fuzz target" } ?? "POPGATE_FUZZ_TARGET is not set"
        FileHandle.standardError.write(Data("popgate-fuzz: \(problem); set it to one of:\n\(FuzzTarget.catalogue)\n".utf8))
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selected else { return 0 }
    target.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's driver (libclang_rt.fuzzer), which parses the options and runs the inputs.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<Arguments.Pointee>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The process entry. SwiftPM links an executable target with `main` defined as `<module>_main`
/// (so tests can link the module), which hides libFuzzer's own `main`: this one hands over to
/// libFuzzer's driver instead.
@_cdecl("popgate_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: Arguments.Pointee) -> CInt {
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { data, size in testOneInput(data, size) }
}
