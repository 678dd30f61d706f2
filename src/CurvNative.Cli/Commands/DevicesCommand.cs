using System.CommandLine;
using System.Globalization;
using CurvNative.Kernels.Gpu;
using Spectre.Console;

namespace CurvNative.Cli.Commands;

/// <summary>
/// <c>curvnative devices</c>: the accelerators ILGPU finds (CUDA and OpenCL GPUs, then its CPU accelerator), with
/// the index that <c>--device</c> takes, and whether each computes in float64, verified by running a small double
/// GEMM on it against the managed oracle. Says plainly when there is no GPU.
/// </summary>
internal static class DevicesCommand
{
    public static Command Create(CliContext context)
    {
        var noCheck = new Option<bool>("--no-fp64-check") { Description = "Do not run the float64 check (no kernel is compiled; the fp64 column then says 'not checked')." };
        var command = new Command("devices", "List the accelerators ILGPU finds (index for --device, type, name, memory, multiprocessors, float64 verified on the device) and the kernel backends that can run.");
        command.Add(noCheck);
        command.SetAction(parsed =>
        {
            Run(context, !parsed.GetValue(noCheck));
            return ExitCodes.Success;
        });
        return command;
    }

    private static void Run(CliContext context, bool checkFp64)
    {
        IReadOnlyList<IlgpuDeviceInfo> devices;
        try { devices = IlgpuKernelBackend.ListDevices(); }
        catch (Exception e) when (e is not OutOfMemoryException) { throw CliException.BadInput($"ILGPU failed to start ({e.GetType().Name}: {e.Message})."); }

        var console = BenchCommand.PlainConsole(context.Out);
        var table = new Table().RoundedBorder().Title("[bold]ILGPU accelerators[/] (--backend ilgpu --device N)");
        foreach (var h in new[] { "device", "type", "name", "memory", "multiprocessors", "threads/group", "shared/group", "fp64", "GEMM tile" })
            table.AddColumn(new TableColumn(h));
        var notes = new List<string>();
        foreach (var d in devices)
        {
            string fp64 = "not checked", tile = "-";
            if (checkFp64)
            {
                try
                {
                    using var backend = new IlgpuKernelBackend(d.Index);
                    bool ok = backend.VerifyFloat64(out var detail);
                    fp64 = ok ? "yes" : "no";
                    if (!ok) notes.Add($"device {d.Index}: {detail}");
                    tile = string.Create(CultureInfo.InvariantCulture, $"{backend.TileEdge}x{backend.TileEdge}, {(backend.GemmKernel == IlgpuGemmKernel.Simple ? "simple" : "4x4 per thread")}");
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    fp64 = "unknown";
                    notes.Add($"device {d.Index} cannot run the kernels: {e.GetType().Name}: {e.Message}");
                }
            }
            table.AddRow(Cell(d.Index.ToString(CultureInfo.InvariantCulture)), Cell(d.Type), Cell(d.Name), Cell(Bytes(d.MemoryBytes)),
                Cell(d.Multiprocessors.ToString(CultureInfo.InvariantCulture)), Cell(d.MaxThreadsPerGroup.ToString(CultureInfo.InvariantCulture)),
                Cell(Bytes(d.SharedMemoryPerGroup)), Cell(fp64), Cell(tile));
        }
        console.Write(table);
        foreach (var n in notes) context.Out.WriteLine(n);
        if (!devices.Any(d => d.IsGpu))
            context.Out.WriteLine("No GPU found: ILGPU sees no CUDA or OpenCL 2.0 GPU, only its CPU accelerator, which emulates GPU groups with one OS thread per GPU thread (for testing, slow). On this machine --backend native is the fast one.");
        else
            context.Out.WriteLine($"{devices.Count(d => d.IsGpu)} GPU{(devices.Count(d => d.IsGpu) == 1 ? "" : "s")} found; --backend ilgpu uses device 0 unless --device says otherwise.");
        bool native = CurvNative.Kernels.NativeKernelBackend.IsAvailable(out var why);
        context.Out.WriteLine($"Kernel backends: managed (always), native ({(native ? "OpenBLAS loaded" : why)}), ilgpu ({devices.Count} device{(devices.Count == 1 ? "" : "s")}).");
    }

    private static Markup Cell(string text) => new(Markup.Escape(text));

    private static string Bytes(long bytes) => bytes switch
    {
        // ILGPU's CPU accelerator reports "unlimited" (long.MaxValue, int.MaxValue): it uses the host's memory.
        >= 1L << 50 or int.MaxValue => "host",
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F1} GiB"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F0} MiB"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F0} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
