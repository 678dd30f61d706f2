using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using CurvNative.Cli.Bench;
using CurvNative.Interop;
using CurvNative.Kernels;
using CurvNative.Threading;
using Spectre.Console;

namespace CurvNative.Cli.Commands;

/// <summary>
/// <c>curvnative bench</c>: the kernel seam's families (GEMM, Kronecker matmat, factor accumulation, Woodbury solve,
/// forward Laplacian) on the chosen backends at one size, timed (median of <c>--repeat</c> calls after one warm-up)
/// and each result checked against the managed oracle: 1e-10 relative (max norm) in float64, 1e-3 in float32. A
/// mismatch is a reported failure (exit code 1, after the table). GFLOP/s count the useful flops of each family;
/// "of GEMM" is that rate over the same backend's GEMM rate in the same run (the floor the family is measured against).
/// </summary>
internal static class BenchCommand
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create(CliContext context)
    {
        var backends = new KernelBackendOptions(defaultBackend: "native", allowSeveral: true);
        var family = new Option<string>("--family")
        {
            Description = "Kernel families: gemm, kron (Kronecker matmat), accumulate (factor accumulation), woodbury (Woodbury solve), taylor (forward Laplacian), all, or a comma-separated list.",
            HelpName = "all|gemm|kron|accumulate|woodbury|taylor[,...]",
            DefaultValueFactory = _ => "all",
        };
        family.Validators.Add(result =>
        {
            var text = result.GetValueOrDefault<string>() ?? "";
            if (ParseFamilies(text) is null)
                result.AddError($"--family must be all or a comma-separated list of {string.Join(", ", KernelWorkload<double>.Families)}, got '{Interop.Text.Escape(text, 40)}'.");
        });
        var size = CliOptions.PositiveInt("--size", "Problem size s: GEMM s x s x s; Kronecker factors s x s (K = 8); accumulation of 2s rows of length s; Woodbury J [s, 4s]; Taylor widths 16-s-s-1 at 64 points.", 256, "S", maximum: 8192);
        var repeat = CliOptions.PositiveInt("--repeat", "Timed calls per measurement (after one warm-up call); the table shows the median.", 3, "R", maximum: 1000);
        var dtype = CliOptions.Dtype();
        var json = CliOptions.OutputFile("--json", "Also write the rows as JSON, with each backend's device name (written atomically).", required: false);
        var command = new Command("bench", "Time the kernel families (GEMM, Kronecker, accumulation, Woodbury, Taylor) on the managed, native and ILGPU backends, each result checked against the managed oracle.");
        backends.AddTo(command);
        foreach (var o in new Option[] { family, size, dtype, repeat, json }) command.Add(o);
        command.SetAction(parsed =>
        {
            var names = backends.Names(parsed);
            var settings = new Settings(names, ParseFamilies(parsed.GetRequiredValue(family))!, parsed.GetValue(size), parsed.GetValue(repeat),
                parsed.GetValue(json) is { Length: > 0 } j ? j : null, (parsed.GetValue(backends.Backend) ?? "") == "all");
            IKernelBackend Make(string name) => backends.Create(parsed, name);
            return CliOptions.ParseDtype(parsed.GetValue(dtype)) == DType.Float32
                ? Run<float>(context, settings, Make)
                : Run<double>(context, settings, Make);
        });
        return command;
    }

    /// <summary>What to run: backend names, families, size, timed calls, the JSON path, and whether the backends were 'all'
    /// (then one that cannot start is skipped with its reason instead of failing the run).</summary>
    internal sealed record Settings(string[] Backends, string[] Families, int Size, int Repeat, string? Json, bool All);

    /// <summary>One measured (or skipped) backend x family.</summary>
    private sealed record Row(string Backend, string Device, string Family, string Shape, string Dtype, double Seconds, double Gflops, double? OfGemm,
        double Error, string Status);

    private static string[]? ParseFamilies(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (parts is ["all"]) return [.. KernelWorkload<double>.Families];
        if (parts.Length == 0 || parts.Any(p => !KernelWorkload<double>.Families.Contains(p))) return null;
        // Table order, whatever the order given.
        return KernelWorkload<double>.Families.Where(parts.Contains).ToArray();
    }

    /// <summary>Runs the bench with backends made by <paramref name="create"/>: prints the table, writes the JSON, and throws
    /// (exit code 1) when a result disagrees with the oracle.</summary>
    internal static int Run<T>(CliContext context, Settings settings, Func<string, IKernelBackend> create) where T : unmanaged, IFloatingPointIeee754<T>
    {
        string dtype = typeof(T) == typeof(float) ? "float32" : "float64";
        double tolerance = typeof(T) == typeof(float) ? 1e-3 : 1e-10;
        var workloads = settings.Families.Select(f => KernelWorkload<T>.Create(f, settings.Size)).ToArray();
        var oracle = new Dictionary<string, T[]>();
        using (var managed = new ManagedKernelBackend())
            foreach (var w in workloads)
                using (var bound = w.Bind(managed)) oracle[w.Family] = bound.Run();

        var rows = new List<Row>();
        var skipped = new List<string>();
        foreach (var name in settings.Backends)
        {
            IKernelBackend backend;
            try { backend = create(name); }
            catch (CliException e) when (settings.All && e.ExitCode == ExitCodes.BadInput)
            {
                // 'all' runs what can run here and says why the rest could not.
                skipped.Add($"{name}: skipped: {e.Message}");
                continue;
            }
            using (backend)
            {
                double? gemmRate = null;
                foreach (var w in workloads)
                {
                    var (seconds, result) = Measure(w, backend, settings.Repeat);
                    double err = RelativeError(oracle[w.Family], result);
                    string status = !double.IsFinite(err) ? "MISMATCH (non-finite)" : err <= tolerance ? "ok" : "MISMATCH";
                    double rate = w.Flops / seconds / 1e9;
                    if (w.Family == "gemm") gemmRate = rate;
                    rows.Add(new Row(name, backend.DeviceName, w.Family, w.Shape, dtype, seconds, rate, w.Family == "gemm" || gemmRate is null ? null : rate / gemmRate, err, status));
                }
            }
        }

        Print(context, settings, dtype, tolerance, rows, skipped);
        if (settings.Json is { } path)
        {
            var document = new
            {
                size = settings.Size, dtype, repeat = settings.Repeat, threads = ThreadSettings.Count, tolerance,
                rows = rows.Select(r => new
                {
                    backend = r.Backend, device = r.Device, family = r.Family, shape = r.Shape, seconds = r.Seconds, gflops = r.Gflops,
                    fraction_of_gemm = r.OfGemm, max_relative_error = double.IsFinite(r.Error) ? r.Error : (double?)null, status = r.Status,
                }),
                skipped,
            };
            Processes.WriteOutputs(() => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(document, Json) + "\n"));
        }
        var bad = rows.Where(r => r.Status != "ok").ToList();
        if (bad.Count > 0)
            throw CliException.BadInput($"bench: {bad.Count} result{(bad.Count == 1 ? "" : "s")} disagree with the managed oracle beyond {tolerance:0e0} relative: " +
                string.Join("; ", bad.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Backend} {r.Family} ({r.Error:E2})"))) + ".");
        return ExitCodes.Success;
    }

    /// <summary>One warm-up call (compiles kernels; its result is the one checked), then the median of <paramref name="repeat"/> timed calls.</summary>
    private static (double Seconds, T[] Result) Measure<T>(KernelWorkload<T> w, IKernelBackend backend, int repeat) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var bound = w.Bind(backend);
        var result = bound.Run();
        var times = new double[repeat];
        for (int i = 0; i < repeat; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            bound.Run();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        }
        Array.Sort(times);
        double median = repeat % 2 == 1 ? times[repeat / 2] : (times[repeat / 2 - 1] + times[repeat / 2]) / 2;
        return (Math.Max(median, 1e-9), result);
    }

    /// <summary>max |x - y| / max |y| (0 when both are zero; infinity when x has a NaN or infinity).</summary>
    private static double RelativeError<T>(T[] expected, T[] actual) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (expected.Length != actual.Length) return double.PositiveInfinity;
        double scale = 0, err = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = double.CreateChecked(expected[i]), a = double.CreateChecked(actual[i]);
            if (!double.IsFinite(a)) return double.PositiveInfinity;
            scale = Math.Max(scale, Math.Abs(e));
            err = Math.Max(err, Math.Abs(e - a));
        }
        return err == 0 ? 0 : err / scale;
    }

    private static void Print(CliContext context, Settings settings, string dtype, double tolerance, List<Row> rows, List<string> skipped)
    {
        var console = PlainConsole(context.Out);
        var table = new Table().RoundedBorder().Title(string.Create(CultureInfo.InvariantCulture,
            $"[bold]Kernel families[/], size {settings.Size}, {dtype}, median of {settings.Repeat}, {ThreadSettings.Count} thread{(ThreadSettings.Count == 1 ? "" : "s")}"));
        foreach (var h in new[] { "backend", "device", "family", "shape", "time (ms)", "GFLOP/s", "of GEMM", "max rel. error", "check" })
            table.AddColumn(new TableColumn(h));
        foreach (var r in rows)
            table.AddRow(Cell(r.Backend), Cell(r.Device), Cell(r.Family), Cell(r.Shape), Cell(F($"{r.Seconds * 1e3:F3}")), Cell(Rate(r.Gflops)),
                Cell(r.OfGemm is { } f ? F($"{f:P0}") : "-"), Cell(double.IsFinite(r.Error) ? F($"{r.Error:0.0e+00}") : "non-finite"), Cell(r.Status));
        console.Write(table);
        foreach (var s in skipped) context.Out.WriteLine(s);
        context.Out.WriteLine(F($"Checked against the managed oracle: max |x - oracle| / max |oracle| <= {tolerance:0e0}. ILGPU's CPU accelerator emulates a GPU (one OS thread per GPU thread): its times say nothing about a GPU's."));
    }

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);

    /// <summary>GFLOP/s with three significant digits, in scientific notation below 0.001 (the CPU accelerator's rates).</summary>
    private static string Rate(double g) => g >= 100 ? F($"{g:F0}") : g >= 0.001 ? F($"{g:0.###}") : F($"{g:0.00e+00}");

    private static Markup Cell(string text) => new(Markup.Escape(text));

    /// <summary>A Spectre console on <paramref name="writer"/> without colours or terminal control codes (tables that read the same in a file).</summary>
    internal static IAnsiConsole PlainConsole(TextWriter writer)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(writer),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        // Wide enough for a row on one line (a redirected writer would otherwise wrap at 80 columns).
        console.Profile.Width = 200;
        return console;
    }
}
