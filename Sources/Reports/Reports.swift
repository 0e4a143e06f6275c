/// Reports on what an edit did: checkpoint differences, membership-inference evaluation and the
/// HTML/Markdown report. Knows weight files (through WeightFormats) and models (through
/// ModelRuntime); never imports ArgumentParser.
public enum Reports {}
