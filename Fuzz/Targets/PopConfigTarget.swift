import PopConfig

/// `popgate.toml` as both daemons load it (``PopConfiguration/parse(_:path:)``): any text is a
/// configuration or a ``ConfigError`` that says where, never a crash.
///
/// toml++ 3.4.0 (bundled by TOMLKit 0.6.0) asserts conditions that malformed input breaks: a table
/// header whose key starts with a character that can start no key (`[[=`, `[ [a]]`, fixed upstream in
/// marzer/tomlplusplus#301, not yet in a TOMLKit release), a date-time whose `T` no digit follows
/// (`1979-05-27Tx`), a value that is only a terminator. Each is an abort in a debug build and an unmet
/// `__builtin_assume` in a release one. The fuzz build compiles toml++ with its assertions off
/// (Fuzz/fuzz.sh), so the parser goes on as a release build's would, minus the optimizer's assumption;
/// this target then checks that it still ends in a configuration or an error, and ASan that it touches
/// no memory it should not. Such inputs cannot be seeds: FuzzTargetsTests replays the corpus in the
/// debug build, where the assertions are on.
enum PopConfigTarget {
    static let target = FuzzTarget(
        name: "popgate-toml", summary: "popgate.toml through TOMLKit and the configuration loader", run: run
    )

    static func run(_ data: UnsafeRawBufferPointer) {
        let text = String(decoding: data, as: UTF8.self)
        do {
            let configuration = try PopConfiguration.parse(text)
            FuzzCheck.require(!configuration.backends.isEmpty, "a configuration without backends was accepted")
        } catch {
            FuzzCheck.require(!error.description.isEmpty, "a configuration error says nothing")
        }
    }
}
