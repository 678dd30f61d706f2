using System.Diagnostics;
using System.Net.Sockets;
using CurvNative.Interop;
using CurvNative.Tensors;
using CurvNative.Tests.Interop;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Cli;

/// <summary>
/// Output paths (issue 15, bugs 1 and 3 and the weaker spots on output locations): an output that is an input or
/// another output is refused before computing, a FIFO at the output is written as a stream and stays a FIFO, an
/// unwritable location fails before loading, a replaced file keeps its mode (and owner, where permitted).
/// </summary>
public sealed class OutputPathTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Copies of the mlp fixture, a right-hand side [P] for solve/matvec, and the usual arguments.</summary>
    private (string Model, string Weights, string Data, string Vector) Copies()
    {
        string Copy(string name) { var path = _dir.File(name); File.Copy(CliRunner.Model("mlp", name), path, overwrite: true); return path; }
        var vector = _dir.File("v.npy");
        var v = Tensor<double>.Zeros(565);
        for (int i = 0; i < v.Length; i++) v.Span[i] = Math.Sin(i);
        Npy.Write(vector, v);
        return (Copy("model.json"), Copy("weights.safetensors"), Copy("data.safetensors"), vector);
    }

    public static TheoryData<string, string, string> SameFileCases() => new()
    {
        // command, the option whose path is reused as output, the output option
        { "grad", "--weights", "--out" },
        { "grad", "--model", "--out" },
        { "grad", "--data", "--out" },
        { "matvec", "--vector", "--out" },
        { "solve", "--rhs", "--out" },
        { "density", "--weights", "--plot" },
        { "density", "--out", "--plot" },
    };

    [Theory]
    [MemberData(nameof(SameFileCases))]
    public void AnOutputThatIsAnInputOrAnotherOutputIsRefusedAndNothingChanges(string command, string reused, string outputOption)
    {
        var (model, weights, data, vector) = Copies();
        var paths = new Dictionary<string, string>
        {
            ["--model"] = model, ["--weights"] = weights, ["--data"] = data, ["--vector"] = vector, ["--rhs"] = vector,
            ["--out"] = _dir.File(command == "density" ? "s.json" : "out.npy"), ["--plot"] = _dir.File("s.svg"),
        };
        if (reused == "--out") File.WriteAllText(paths["--out"], "{\"previous\": true}");
        foreach (var how in new[] { "same path", "symbolic link", "hard link" })
        {
            string target = paths[reused];
            string alias = how switch
            {
                "same path" => target,
                "symbolic link" => Link(target, _dir.File("alias-sym"), symbolic: true),
                _ => Link(target, _dir.File("alias-hard"), symbolic: false),
            };
            var args = new List<string> { command, "--model", model, "--weights", weights, "--data", data };
            if (command != "grad") args.AddRange(["--curvature", "ggn"]);
            if (command == "matvec") args.AddRange(["--vector", vector]);
            if (command == "solve") args.AddRange(["--rhs", vector, "--damping", "1"]);
            foreach (var o in command == "density" ? new[] { "--out", "--plot" } : ["--out"])
                args.AddRange([o, o == outputOption ? alias : paths[o]]);
            var before = File.ReadAllBytes(target);
            var entries = _dir.Entries().Order().ToArray();

            var run = Run([.. args]);

            Assert.True(run.ExitCode == 2, $"{command} {outputOption} = {reused} ({how}): {run}");
            Assert.Single(run.ErrorLines);
            Assert.Contains(outputOption, run.Error);
            Assert.Contains(reused, run.Error);
            Assert.Equal(before, File.ReadAllBytes(target));
            Assert.Equal(entries, _dir.Entries().Order().ToArray());
            if (alias != target) File.Delete(alias);
        }
    }

    private static string Link(string target, string link, bool symbolic)
    {
        if (symbolic) File.CreateSymbolicLink(link, target);
        else RunTool("ln", target, link);
        return link;
    }

    private static void RunTool(string tool, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(tool, args) { RedirectStandardError = true })!;
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{tool} {string.Join(" ", args)}: {p.StandardError.ReadToEnd()}");
    }

    [Fact]
    public async Task AFifoAtTheOutputIsWrittenAsAStreamAndStaysAFifo()
    {
        var (model, weights, data, _) = Copies();
        string fifo = _dir.File("pipe.npy");
        RunTool("mkfifo", fifo);
        // The reader must open the FIFO for the writer's open to complete.
        var reader = Task.Run(() => File.ReadAllBytes(fifo));

        var run = Run("grad", "--model", model, "--weights", weights, "--data", data, "--out", fifo);

        Assert.True(run.ExitCode == 0, run.ToString());
        var bytes = await reader.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(FileKind.Fifo, FileStatus.Get(fifo)!.Kind);
        var streamed = Npy.Read<double>(new MemoryStream(bytes), "fifo");
        Autodiff.FiniteDifference.AssertClose(Npy.Read<double>(CliRunner.Model("mlp", "grad.npy")), streamed, 1e-10, "gradient through a FIFO");
        Assert.Equal(["data.safetensors", "model.json", "pipe.npy", "v.npy", "weights.safetensors"], _dir.Entries().Order().ToArray());
    }

    [Fact]
    public void ASocketAtTheOutputIsRefusedAndKept()
    {
        var (model, weights, data, _) = Copies();
        string path = _dir.File("s.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(path));

        var run = Run("grad", "--model", model, "--weights", weights, "--data", data, "--out", path);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("socket", run.Error);
        Assert.Equal(FileKind.Socket, FileStatus.Get(path)!.Kind);
    }

    [Fact]
    public void AnUnwritableOutputLocationFailsBeforeAnythingIsLoaded()
    {
        var (model, weights, data, _) = Copies();
        File.WriteAllText(model, "{ not json"); // would fail on loading: the output must be reported first
        // /proc refuses new files even to root, so the check cannot pass by privilege.
        string output = "/proc/curvnative-output-test.npy";

        var run = Run("grad", "--model", model, "--weights", weights, "--data", data, "--out", output);

        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Single(run.ErrorLines);
        Assert.Contains("cannot write in the directory '/proc'", run.Error);
        Assert.DoesNotContain("model.json", run.Error);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public void AReplacedOutputKeepsItsModeAndOwner()
    {
        var (model, weights, data, _) = Copies();
        string output = _dir.File("g.npy");
        File.WriteAllText(output, "old");
        var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead; // 0640, not the umask default
        File.SetUnixFileMode(output, mode);
        bool root = Environment.UserName == "root";
        if (root) RunTool("chown", "1234:2345", output);
        var before = FileStatus.Get(output)!;

        var run = Run("grad", "--model", model, "--weights", weights, "--data", data, "--out", output);

        Assert.True(run.ExitCode == 0, run.ToString());
        var after = FileStatus.Get(output)!;
        Assert.NotEqual(before.Inode, after.Inode); // replaced, not rewritten in place
        Assert.Equal(mode, after.Mode);
        Assert.Equal((before.Owner, before.Group), (after.Owner, after.Group));
        if (root) Assert.Equal((1234u, 2345u), (after.Owner, after.Group));
        Assert.Equal(565, Npy.Read<double>(output).Length);
    }

    [Fact]
    public void ASymbolicLinkAtTheOutputIsKeptAndItsTargetReplaced()
    {
        var (model, weights, data, _) = Copies();
        string target = _dir.File("target.npy"), link = _dir.File("link.npy");
        File.WriteAllText(target, "old");
        File.CreateSymbolicLink(link, target);

        var run = Run("grad", "--model", model, "--weights", weights, "--data", data, "--out", link);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Equal(565, Npy.Read<double>(target).Length);
    }
}
