import HeraldWire

/// JSON indented for people (`herald task get --pretty`): two spaces per level, `"key": value`,
/// members in document order, scalars exactly as `JSONWriter` writes them.
public enum JSONPrettyPrinter {
    public static func format(_ value: JSONValue, indent: String = "  ") -> String {
        var out = ""
        write(value, level: 0, indent: indent, into: &out)
        return out
    }

    static func write(_ value: JSONValue, level: Int, indent: String, into out: inout String) {
        let inner = String(repeating: indent, count: level + 1)
        let outer = String(repeating: indent, count: level)
        switch value {
        case .array(let elements) where !elements.isEmpty:
            out += "[\n"
            for (i, element) in elements.enumerated() {
                out += inner
                write(element, level: level + 1, indent: indent, into: &out)
                out += i + 1 < elements.count ? ",\n" : "\n"
            }
            out += outer + "]"
        case .object(let object) where !object.isEmpty:
            out += "{\n"
            for (i, member) in object.members.enumerated() {
                out += inner + JSONWriter.encodeString(.string(member.key)) + ": "
                write(member.value, level: level + 1, indent: indent, into: &out)
                out += i + 1 < object.count ? ",\n" : "\n"
            }
            out += outer + "}"
        default:
            out += JSONWriter.encodeString(value)
        }
    }
}
