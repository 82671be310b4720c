import ArgumentParser
import HeraldWire

/// `HERALD_<FLAG>` environment variables for every option of a command, for containers and
/// service managers that configure through the environment (12-factor). The list of options is
/// not kept by hand: it is read from ArgumentParser's own description of the command (the JSON
/// of `--experimental-dump-help`), so an option added to `ServeOptions` or one of its groups
/// has its variable at once.
///
/// The variables become arguments, placed before the command line's: ArgumentParser then
/// parses, converts and validates them exactly like typed flags. A variable is used only when
/// its option is absent from the command line (the command line wins), and an empty variable
/// counts as unset (`HERALD_PORT= herald serve` means "not given", like `HERALD_TOKEN`).
struct EnvironmentOption: Equatable {
    enum Kind: Equatable {
        /// Takes a value: `HERALD_PORT=9000` → `--port 9000`.
        case option
        /// On or off: `HERALD_ECHO=1` → `--echo`.
        case flag
    }

    /// The long name: `max-connections`.
    let name: String
    let kind: Kind
    /// Repeatable (`--allow-origin`): the variable holds a comma-separated list.
    let isRepeating: Bool
    /// Every spelling on a command line (`--port`, `-p`), to see whether it was given there.
    let spellings: [String]
    /// `--no-<name>` when the flag has an inversion: how the variable turns it off.
    let inversion: String?

    var variable: String { EnvironmentOptions.variable(forOption: name) }
}

struct EnvironmentOptionError: Error, CustomStringConvertible {
    let variable: String
    let message: String
    var description: String { "\(variable): \(message)" }
}

enum EnvironmentOptions {
    static let prefix = "HERALD_"
    /// What a flag's variable may say (any case).
    static let trueWords: Set<String> = ["1", "true", "yes", "on"]
    static let falseWords: Set<String> = ["0", "false", "no", "off"]
    /// Options every command has that configure nothing.
    static let excluded: Set<String> = ["help", "version", "experimental-dump-help"]

    /// `max-connections` → `HERALD_MAX_CONNECTIONS`.
    static func variable(forOption name: String) -> String {
        prefix + String(name.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// The options of `command` that can come from the environment, and the arguments that
    /// cannot (a positional argument, an option with only a short name), by how
    /// `--experimental-dump-help` names them. `serve` has none of the latter; a test keeps it so.
    static func options(of command: ParsableCommand.Type) -> (options: [EnvironmentOption], unmapped: [String]) {
        guard case .object(let tool)? = try? JSONParser.parse(Array(command._dumpHelp().utf8)),
              let arguments = tool["command"]?["arguments"]?.arrayValue
        else { return ([], ["(ArgumentParser's description of \(command._commandName) could not be read)"]) }
        var options: [EnvironmentOption] = []
        var unmapped: [String] = []
        for argument in arguments {
            let names = (argument["names"]?.arrayValue ?? []).compactMap { name -> (kind: String, name: String)? in
                guard let kind = name["kind"]?.stringValue, let text = name["name"]?.stringValue else { return nil }
                return (kind, text)
            }
            let longNames = names.filter { $0.kind == "long" }.map(\.name)
            if longNames.contains(where: excluded.contains) { continue }
            let kindName = argument["kind"]?.stringValue
            // ArgumentParser describes `--x/--no-x` (inversion: .prefixedNo) as two flags: the
            // second is how the first's variable turns it off.
            if kindName == "flag", longNames.count == 1, let i = options.firstIndex(where: { "no-" + $0.name == longNames[0] }) {
                let option = options[i]
                options[i] = EnvironmentOption(
                    name: option.name, kind: option.kind, isRepeating: option.isRepeating,
                    spellings: option.spellings, inversion: "--" + longNames[0])
                continue
            }
            guard kindName == "option" || kindName == "flag", let long = longNames.first(where: { !$0.hasPrefix("no-") }) else {
                unmapped.append(argument["valueName"]?.stringValue ?? names.first?.name ?? "?")
                continue
            }
            let spellings = names.map { name -> String in
                switch name.kind {
                case "long": "--" + name.name
                default: "-" + name.name  // short, or long with a single dash
                }
            }
            options.append(EnvironmentOption(
                name: long, kind: kindName == "flag" ? .flag : .option,
                isRepeating: argument["isRepeating"]?.boolValue ?? false, spellings: spellings,
                inversion: longNames.first { $0 == "no-" + long }.map { "--" + $0 }))
        }
        return (options, unmapped)
    }

    /// The arguments the environment adds for the options absent from `commandLine` (the
    /// command's own arguments, without its name). `lookup` reads one variable.
    static func arguments(for options: [EnvironmentOption], commandLine: [String],
                          lookup: (String) -> String?) throws(EnvironmentOptionError) -> [String] {
        var given = Set<String>()
        for token in commandLine {
            if token == "--" { break }
            guard token.hasPrefix("-") else { continue }
            given.insert(token.split(separator: "=", maxSplits: 1).first.map(String.init) ?? token)
        }
        var arguments: [String] = []
        for option in options {
            guard let value = lookup(option.variable), !value.isEmpty else { continue }
            let spellings = option.spellings + (option.inversion.map { [$0] } ?? [])
            if spellings.contains(where: given.contains) { continue }
            switch option.kind {
            case .flag:
                let word = value.trimmingSpaces.lowercased()
                if trueWords.contains(word) {
                    arguments.append("--" + option.name)
                } else if falseWords.contains(word) {
                    if let inversion = option.inversion { arguments.append(inversion) }
                } else {
                    throw EnvironmentOptionError(
                        variable: option.variable, message: "must be 1, true, yes or on (or 0, false, no, off), not '\(value)'")
                }
            case .option where option.isRepeating:
                // `HERALD_ALLOW_ORIGIN=https://a.example,https://b.example`
                for item in value.split(separator: ",") {
                    let item = String(item).trimmingSpaces
                    if !item.isEmpty { arguments += ["--" + option.name, item] }
                }
            case .option:
                arguments += ["--" + option.name, value]
            }
        }
        return arguments
    }

    /// `herald serve`'s arguments with the environment's added, each variable checked on its
    /// own first so that a bad one is named: `HERALD_PORT: The value 'x' is invalid for '--port <port>'`.
    /// `variableNames` are the environment's names: with no `HERALD_` one among them there is
    /// nothing to read, and the options are not looked up (from the command's help dump: about
    /// 8 ms of a start).
    static func serveArguments(_ commandLine: [String], variableNames: some Sequence<String>,
                               lookup: (String) -> String?) throws(EnvironmentOptionError) -> [String] {
        // Help and the tool's description must work whatever the environment says.
        if commandLine.contains(where: { ["-h", "--help", "--experimental-dump-help"].contains($0) }) { return commandLine }
        guard variableNames.contains(where: { $0.hasPrefix(prefix) }) else { return commandLine }
        let options = Self.options(of: Serve.self).options
        var added: [String] = []
        for option in options {
            let own = try arguments(for: [option], commandLine: commandLine, lookup: lookup)
            guard !own.isEmpty else { continue }
            do {
                _ = try Serve.parse(own)
            } catch {
                let message = Serve.message(for: error).split(whereSeparator: \.isNewline).joined(separator: "; ")
                throw EnvironmentOptionError(variable: option.variable, message: message)
            }
            added += own
        }
        return added + commandLine
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
