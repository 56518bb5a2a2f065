/// The rule for tenant and peer names: they appear in configs, logs and file names.
enum Names {
    static func validate(_ name: String, what: String) throws(RegistryError) {
        let allowed = name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
        guard (1...63).contains(name.utf8.count), allowed, name.first != "-", name.first != "." else {
            throw RegistryError(
                .invalidName,
                "\"\(name)\" is not a valid \(what) name: use 1-63 lower-case letters, digits, '-', '_' or '.', not starting with '-' or '.'"
            )
        }
    }
}
