using System.CommandLine;
using CurvNative.Interop;

namespace CurvNative.Cli;

/// <summary>
/// The one check of a command's file paths, run by <see cref="App"/> after parsing and before the command's action,
/// on every <see cref="PathOption"/> of the invoked command:
/// <list type="bullet">
/// <item>inputs exist and are not directories;</item>
/// <item>outputs name a file in an existing, writable directory (probed by creating and deleting an empty file), or an
/// existing character device or FIFO (written as a stream); a directory, block device or socket is refused;</item>
/// <item>no output is the same file as an input or as another output: same device and inode (hard links and
/// symbolic links included), or, for files yet to be created, the same name in the same directory.</item>
/// </list>
/// So a wrong path costs nothing: it is reported before any file is loaded or anything computed. Commands do not
/// call it themselves; they declare their paths with <see cref="CliOptions.InputFile"/> and
/// <see cref="CliOptions.OutputFile"/>.
/// </summary>
internal static class PathGuard
{
    /// <summary>Checks every path option of the parsed command; throws <see cref="CliException"/> on the first problem.</summary>
    public static void Check(ParseResult parsed)
    {
        var files = new List<(IPathOption Option, string Path, FileIdentity Identity)>();
        foreach (var option in parsed.CommandResult.Command.Options.OfType<IPathOption>())
            foreach (var path in option.Paths(parsed))
            {
                if (option.Role == PathRole.Input) PathChecks.InputFile(path, option.Name);
                else CheckOutput(path, option.Name);
                files.Add((option, path, FileIdentity.Of(path)));
            }

        for (int i = 0; i < files.Count; i++)
        {
            var output = files[i];
            if (output.Option.Role != PathRole.Output) continue;
            foreach (var other in files)
            {
                if (ReferenceEquals(other.Option, output.Option) || !output.Identity.SameAs(other.Identity)) continue;
                if (other.Option.Role == PathRole.Input)
                    throw CliException.Usage($"{output.Option.Name} {Text.Quote(output.Path)} is the same file as {other.Option.Name} {Text.Quote(other.Path)}; refusing to overwrite an input (nothing was computed).");
                // Two outputs may share a character device (both to /dev/null); a file would keep only the last one.
                if (output.Identity.Kind != FileKind.CharacterDevice)
                    throw CliException.Usage($"{other.Option.Name} and {output.Option.Name} name the same file {Text.Quote(output.Path)}; give each output its own path.");
            }
        }
    }

    private static void CheckOutput(string path, string option)
    {
        PathChecks.OutputFile(path, option);
        string destination = AtomicFile.Destination(path);
        var status = FileStatus.Get(destination);
        if (status is { Kind: FileKind.CharacterDevice or FileKind.Fifo }) return; // streamed; a probe could block on a FIFO
        if (status is { Kind: not FileKind.Regular })
            throw CliException.BadInput($"{path}: is {FileStatus.Describe(status.Kind)}; expected a regular file, a character device or a FIFO ({option}).");
        string dir = Path.GetDirectoryName(destination)!;
        string probe = Path.Combine(dir, $".{Path.GetFileName(destination)}.{Guid.NewGuid().ToString("N")[..12]}.probe");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw CliException.BadInput($"{path}: cannot write in the directory '{dir}' ({option}): {e.Message} Nothing was computed.");
        }
    }

    /// <summary>What makes two paths the same file: device and inode when it exists (<see cref="FileStatus"/>), else
    /// the directory's device and inode and the file name; the full path where the platform has no statx.</summary>
    private sealed record FileIdentity(FileKind? Kind, ulong Device, ulong Inode, string? Name)
    {
        public static FileIdentity Of(string path)
        {
            string destination = AtomicFile.Destination(path);
            if (FileStatus.Get(destination) is { } file) return new(file.Kind, file.Device, file.Inode, null);
            if (FileStatus.Get(Path.GetDirectoryName(destination) ?? "/") is { } dir) return new(null, dir.Device, dir.Inode, Path.GetFileName(destination));
            return new(null, 0, 0, destination);
        }

        public bool SameAs(FileIdentity other) => Device == other.Device && Inode == other.Inode && Name == other.Name;
    }
}
