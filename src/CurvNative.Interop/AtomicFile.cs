namespace CurvNative.Interop;

/// <summary>
/// Writes a file atomically: the content goes to a temporary file in the destination folder, which is
/// flushed to disk and then renamed over the destination. A failure at any point deletes the temporary
/// file, so the destination is either the complete new file or untouched.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes UTF-8 text (a JSON report, an SVG plot) atomically.</summary>
    public static void WriteAllText(string path, string text)
        => Write(path, s => { var bytes = new System.Text.UTF8Encoding(false).GetBytes(text); s.Write(bytes); });

    /// <summary>Runs <paramref name="write"/> on a temporary file and renames it over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        string name = Path.GetFileName(full);
        string? dir = Path.GetDirectoryName(full);
        if (dir is null || name.Length == 0)
            throw new ArgumentException($"Cannot write '{path}': it does not name a file.", nameof(path));
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"Cannot write '{path}': the directory '{dir}' does not exist.");
        if (Directory.Exists(full))
            throw new IOException($"Cannot write '{path}': a directory with that name exists.");

        string stem = name.Length > 64 ? name[..64] : name;
        string temp = Path.Combine(dir, $".{stem}.{Guid.NewGuid().ToString("N")[..12]}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception ex)
        {
            TryDelete(temp);
            if (ex is IOException io)
                throw new IOException($"Writing '{path}' failed: {io.Message} The destination was left unchanged.", io);
            if (ex is UnauthorizedAccessException ua)
                throw new UnauthorizedAccessException($"Writing '{path}' failed: {ua.Message} The destination was left unchanged.", ua);
            throw;
        }
    }

    private static void TryDelete(string temp)
    {
        try { File.Delete(temp); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
