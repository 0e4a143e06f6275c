import Foundation
import Testing
import _TestSupport

/// The manual pages in man/ must stay in step with the commands' --help.
@Suite("manual pages")
struct ManualPageTests {
    /// (page name, long option names) for the root command and every subcommand, recursively,
    /// from `modelforget --experimental-dump-help`.
    static func commands() throws -> [(page: String, options: [String])] {
        let result = try ProcessRunner.modelforget(["--experimental-dump-help"])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        var found: [(String, [String])] = []
        func visit(_ command: [String: Any], path: [String]) {
            let name = command["commandName"] as? String ?? ""
            guard name != "help" else { return }
            let fullPath = path + [name]
            let options = (command["arguments"] as? [[String: Any]] ?? []).flatMap { argument -> [String] in
                guard argument["shouldDisplay"] as? Bool ?? true else { return [] }
                return (argument["names"] as? [[String: Any]] ?? []).compactMap {
                    $0["kind"] as? String == "long" ? $0["name"] as? String : nil
                }
            }
            found.append((fullPath.joined(separator: "-"), options.filter { $0 != "help" && $0 != "version" }))
            for sub in command["subcommands"] as? [[String: Any]] ?? [] { visit(sub, path: fullPath) }
        }
        visit(try #require(root["command"] as? [String: Any]), path: [])
        return found
    }

    @Test("every command has a page in man/ that documents each of its options")
    func everyCommandHasAPage() throws {
        let commands = try Self.commands()
        #expect(commands.count >= 3)
        for (page, options) in commands {
            let path = Fixtures.path("man/\(page).1")
            let text = try #require(try? String(contentsOfFile: path, encoding: .utf8), "no manual page man/\(page).1")
            for option in options {
                let spelled = "Fl \\-" + option.replacingOccurrences(of: "-", with: "\\-")
                #expect(text.contains(spelled), "man/\(page).1 does not document --\(option)")
            }
        }
    }

    @Test("every page lints clean with mandoc -Tlint")
    func pagesLintClean() throws {
        let mandoc = ["/usr/bin/mandoc", "/usr/local/bin/mandoc"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let tool = try #require(mandoc, "mandoc is not installed (bash .ci/install installs it)")
        let pages = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("man")).filter { $0.hasSuffix(".1") }
        #expect(!pages.isEmpty)
        for page in pages {
            let result = try ProcessRunner.run(tool, ["-Tlint", "-W", "warning", Fixtures.path("man/\(page)")])
            #expect(result.status == 0 && result.stdout.isEmpty && result.stderr.isEmpty, "\(page): \(result.stdout)\(result.stderr)")
        }
    }
}
