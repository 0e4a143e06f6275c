import Foundation

/// The bytes of the file at `path`, or an empty array if it cannot be read.
public func fileContents(_ path: String) -> [UInt8] {
    FileManager.default.contents(atPath: path).map { Array($0) } ?? []
}
