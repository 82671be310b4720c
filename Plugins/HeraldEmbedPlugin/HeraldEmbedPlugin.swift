import Foundation
import PackagePlugin

/// Embeds the package's public/ directory (the dashboard and /herald.js) in the target it is
/// applied to (HeraldDashboard), so `herald serve` serves it from any directory.
///
/// The plugin runs when SwiftPM plans a build, which it does again whenever a file is added to
/// or removed from public/ (the symlink Sources/HeraldDashboard/public puts public/ into the
/// package structure SwiftPM watches). It declares every file as an input of the generator, so
/// editing one re-runs the generator; an unchanged public/ costs nothing.
/// Dotfiles and symlinks are left out, as the directory source would never serve them
/// (symlinks only inside the root, which a build cannot promise).
@main
struct HeraldEmbedPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let root = context.package.directoryURL.appending(path: "public", directoryHint: .isDirectory)
        let paths = Self.files(under: root)
        let output = context.pluginWorkDirectoryURL.appending(path: "DashboardFiles+Stored.swift")
        return [
            .buildCommand(
                displayName: "Embedding public/ (\(paths.count) files) in \(target.name)",
                executable: try context.tool(named: "HeraldEmbed").url,
                arguments: [root.path(percentEncoded: false), output.path(percentEncoded: false)] + paths,
                inputFiles: paths.map { root.appending(path: $0) },
                outputFiles: [output])
        ]
    }

    /// Regular files below `root`, as sorted relative paths with `/`; none if it is missing.
    static func files(under root: URL) -> [String] {
        var found: [String] = []
        func walk(_ directory: URL, _ prefix: String) {
            let keys: [URLResourceKey] = [.isRegularFileKey, .isDirectoryKey, .isSymbolicLinkKey]
            guard let entries = try? FileManager.default.contentsOfDirectory(
                at: directory, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles])
            else { return }
            for entry in entries {
                let name = entry.lastPathComponent
                guard !name.hasPrefix("."), let values = try? entry.resourceValues(forKeys: Set(keys)),
                      values.isSymbolicLink != true
                else { continue }
                if values.isDirectory == true {
                    walk(entry, prefix + name + "/")
                } else if values.isRegularFile == true {
                    found.append(prefix + name)
                }
            }
        }
        walk(root, "")
        return found.sorted()
    }
}
