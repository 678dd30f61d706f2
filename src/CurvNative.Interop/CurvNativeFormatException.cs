namespace CurvNative.Interop;

/// <summary>
/// Thrown when a file handed to CurvNative (a safetensors file, a NumPy <c>.npy</c> file, a weight tensor)
/// is malformed or holds something the library cannot load. The message always names the file, the key
/// when there is one (a tensor name, a header field), and what was expected versus what was found.
/// </summary>
/// <remarks>
/// Readers in <see cref="CurvNative.Interop"/> throw only this type for bad content, whatever the bytes are;
/// I/O failures (missing file, no permission) surface as the usual <see cref="IOException"/> family.
/// </remarks>
public sealed class CurvNativeFormatException : Exception
{
    /// <summary>Creates the exception; the message is composed as <c>file, key 'k': detail</c>.</summary>
    /// <param name="filePath">The file (or stream name) being read.</param>
    /// <param name="key">The tensor name or header field the problem is about, or null for the file as a whole.</param>
    /// <param name="detail">What was expected and what came instead.</param>
    /// <param name="innerException">The underlying error, if any (for example a JSON parser error).</param>
    public CurvNativeFormatException(string filePath, string? key, string detail, Exception? innerException = null)
        : base(Compose(filePath, key, detail), innerException)
    {
        FilePath = filePath;
        Key = key;
        Detail = detail;
    }

    /// <summary>The file (or stream name) being read.</summary>
    public string FilePath { get; }

    /// <summary>The tensor name or header field the problem is about; null when it concerns the whole file.</summary>
    public string? Key { get; }

    /// <summary>The message without the file and key prefix.</summary>
    public string Detail { get; }

    private static string Compose(string filePath, string? key, string detail) =>
        key is null ? $"{filePath}: {detail}" : $"{filePath}, key {Text.Quote(key)}: {detail}";
}
