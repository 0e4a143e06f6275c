import Foundation

extension ImageCollection {
    /// File extensions torchvision's ImageFolder accepts (compared lowercased); files with other
    /// extensions are ignored, files with these but in a format not decoded here (BMP, TIFF…) are
    /// samples whose decoding fails with a message naming them.
    public static let imageExtensions = ["jpg", "jpeg", "png", "ppm", "bmp", "pgm", "tif", "tiff", "webp"]

    /// `ROOT/CLASS/…/*.{jpg,png,…}`: one class per subfolder (hidden ones ignored), files found
    /// recursively (symbolic links followed, at most 32 levels), in torchvision's order: classes
    /// sorted, then folders by path, then files by name, all by code point.
    static func imageFolder(_ root: String, labelNames: [String]?) throws -> ImageCollection {
        let fm = FileManager.default
        let entries: [String]
        do { entries = try fm.contentsOfDirectory(atPath: root) } catch {
            throw ImageSourceError(path: root, reason: "cannot list the folder")
        }
        let classes = entries.filter { !$0.hasPrefix(".") && isDirectory(root + "/" + $0) }
        guard !classes.isEmpty else {
            let images = entries.filter { imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
            throw ImageSourceError(path: root, reason: images.isEmpty
                ? "no class folders (an image folder is ROOT/CLASS/IMAGE)"
                : "\(images.count) images but no class folders; put them in a folder per class or list them in a manifest (CSV or JSON Lines: path,label)")
        }
        let mapping: LabelMapping
        do { mapping = try LabelMapping.forNames(classes, modelLabels: labelNames) } catch {
            throw ImageSourceError(path: root, reason: error.reason)
        }
        var samples: [Sample] = []
        for name in classes.sorted(by: codePointOrder) {
            let label = mapping.indices[name]!
            for file in try imageFiles(in: root + "/" + name, depth: 0) {
                samples.append(Sample(name: file, location: .file(file), label: label))
            }
        }
        guard !samples.isEmpty else { throw ImageSourceError(path: root, reason: "the class folders hold no image files") }
        return ImageCollection(path: root, kind: .imageFolder, samples: samples, mapping: mapping,
                               notes: [mapping.numericNamesWarning].compactMap { $0 })
    }

    /// The image files below `folder` in `sorted(os.walk(folder))` order: every folder's files
    /// (sorted) as one group, groups sorted by folder path, so a folder's own files come before
    /// its subfolders'.
    private static func imageFiles(in folder: String, depth: Int) throws -> [String] {
        var groups: [(folder: String, files: [String])] = []
        func walk(_ folder: String, _ depth: Int) throws {
            guard depth < 32 else { throw ImageSourceError(path: folder, reason: "folders nested more than 32 deep (a symbolic link loop?)") }
            let entries: [String]
            do { entries = try FileManager.default.contentsOfDirectory(atPath: folder) } catch {
                throw ImageSourceError(path: folder, reason: "cannot list the folder")
            }
            var files: [String] = []
            for entry in entries {
                let path = folder + "/" + entry
                if isDirectory(path) {
                    try walk(path, depth + 1)
                } else if imageExtensions.contains((entry as NSString).pathExtension.lowercased()) {
                    files.append(path)
                }
            }
            groups.append((folder, files.sorted(by: codePointOrder)))
        }
        try walk(folder, depth)
        return groups.sorted { codePointOrder($0.folder, $1.folder) }.flatMap(\.files)
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Python's string order: by Unicode code point.
    static func codePointOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }
}
