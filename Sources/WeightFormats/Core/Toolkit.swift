/// The name and version modelforget writes into the files it makes (provenance metadata, audit
/// records) and prints for `--version`.
public enum Toolkit {
    public static let name = "modelforget"
    public static let version = "0.1.0"
}
