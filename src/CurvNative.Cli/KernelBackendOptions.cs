using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using CurvNative.Kernels;
using CurvNative.Kernels.Gpu;

namespace CurvNative.Cli;

/// <summary>
/// Creates the kernel seam's backends (<see cref="IKernelBackend"/>) by name, with errors that say what exists:
/// an unknown name lists the backends, a device index out of range says how many ILGPU finds, a missing native
/// library gives its reason.
/// </summary>
internal static class KernelBackendFactory
{
    /// <summary>The backend names, in the order <c>all</c> runs them.</summary>
    public static readonly string[] Names = ["managed", "native", "ilgpu"];

    /// <summary>
    /// Creates backend <paramref name="name"/>; <paramref name="device"/> is the ILGPU device index of
    /// <c>curvnative devices</c> (default 0: the first GPU, else the CPU accelerator) and applies to ilgpu only.
    /// </summary>
    /// <exception cref="CliException">Usage (exit 2) for a bad name or device, bad input (exit 1) when the backend cannot start.</exception>
    public static IKernelBackend Create(string name, int? device = null)
    {
        switch (name)
        {
            case "managed":
            case "native":
                if (device is { } d) throw CliException.Usage($"--device applies to --backend ilgpu only, not {name} (got --device {d}).");
                if (name == "managed") return new ManagedKernelBackend();
                if (!NativeKernelBackend.IsAvailable(out var reason))
                    throw CliException.BadInput($"--backend native cannot run: {reason} (--backend managed needs no native library).");
                return new NativeKernelBackend();
            case "ilgpu":
                return CreateIlgpu(device ?? 0);
            default:
                throw CliException.Usage($"--backend must be one of {string.Join(", ", Names)}, got '{Interop.Text.Escape(name, 40)}'.");
        }
    }

    private static IlgpuKernelBackend CreateIlgpu(int device)
    {
        IReadOnlyList<IlgpuDeviceInfo> devices;
        try { devices = IlgpuKernelBackend.ListDevices(); }
        catch (Exception e) when (e is not OutOfMemoryException) { throw CliException.BadInput($"--backend ilgpu cannot run: ILGPU failed to start ({e.GetType().Name}: {e.Message})."); }
        if (device < 0 || device >= devices.Count)
        {
            string list = string.Join(", ", devices.Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.Index}: {d.Type} {d.Name}")));
            throw CliException.Usage($"--device {device} does not exist: ILGPU finds {devices.Count} device{(devices.Count == 1 ? "" : "s")} ({list}); see '{App.Name} devices'.");
        }
        try { return new IlgpuKernelBackend(device); }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or ILGPU.Runtime.AcceleratorException)
        { throw CliException.BadInput($"--backend ilgpu --device {device} ({devices[device].Name}) cannot run: {e.Message}"); }
    }
}

/// <summary>
/// <c>--backend managed|native|ilgpu</c> and <c>--device N</c> for a command that computes through the kernel seam:
/// add them with <see cref="AddTo"/>, then <see cref="Create(ParseResult)"/> the backend in the command's action (dispose it
/// when done). With <c>allowSeveral</c> it also accepts <c>all</c> and comma-separated lists (for <c>bench</c>).
/// </summary>
internal sealed class KernelBackendOptions
{
    public KernelBackendOptions(string defaultBackend = "native", bool allowSeveral = false)
    {
        AllowSeveral = allowSeveral;
        string names = string.Join("|", KernelBackendFactory.Names);
        Backend = new Option<string>("--backend")
        {
            Description = allowSeveral
                ? "Kernel backends to run: managed (plain C#, the oracle), native (OpenBLAS), ilgpu (ILGPU: a GPU or its CPU accelerator), all, or a comma-separated list."
                : "Kernel backend: managed (plain C#, the oracle), native (OpenBLAS, the CPU default), ilgpu (ILGPU: a GPU or its CPU accelerator).",
            HelpName = allowSeveral ? $"all|{names}[,...]" : names,
            DefaultValueFactory = _ => defaultBackend,
        };
        Backend.Validators.Add(result =>
        {
            var text = result.GetValueOrDefault<string>() ?? "";
            if (Parse(text) is null)
                result.AddError($"--backend must be {(AllowSeveral ? "all or a comma-separated list of " : "one of ")}{string.Join(", ", KernelBackendFactory.Names)}, got '{Interop.Text.Escape(text, 40)}'.");
        });
        Device = new Option<int?>("--device")
        {
            Description = $"ILGPU device index, as listed by '{App.Name} devices' (default 0: the first GPU, else ILGPU's CPU accelerator). With --backend ilgpu only.",
            HelpName = "N",
            CustomParser = result =>
            {
                if (result.Tokens.Count == 0) return null;
                var text = result.Tokens[0].Value;
                if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int d)) return d;
                result.AddError($"--device must be a device index (0, 1, ...), got '{Interop.Text.Escape(text, 40)}'.");
                return null;
            },
        };
    }

    /// <summary>Whether <c>all</c> and lists are accepted.</summary>
    public bool AllowSeveral { get; }
    /// <summary><c>--backend</c>.</summary>
    public Option<string> Backend { get; }
    /// <summary><c>--device</c>.</summary>
    public Option<int?> Device { get; }

    /// <summary>Adds both options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        command.Add(Backend);
        command.Add(Device);
    }

    /// <summary>The backend names of a <c>--backend</c> value (distinct, in the order given), or null when it is not valid.</summary>
    public string[]? Parse(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        if (AllowSeveral && parts is ["all"]) return [.. KernelBackendFactory.Names];
        if (parts.Length == 0 || (!AllowSeveral && parts.Length != 1) || parts.Any(p => !KernelBackendFactory.Names.Contains(p))) return null;
        return parts.Distinct().ToArray();
    }

    /// <summary>The backend names chosen on the command line.</summary>
    public string[] Names(ParseResult parsed)
    {
        var names = Parse(parsed.GetValue(Backend) ?? "") ?? throw CliException.Usage("--backend is not valid.");
        if (parsed.GetValue(Device) is { } d && !names.Contains("ilgpu"))
            throw CliException.Usage($"--device applies to --backend ilgpu only (got --device {d} with --backend {string.Join(",", names)}).");
        return names;
    }

    /// <summary>Creates the one backend chosen on the command line (the caller disposes it).</summary>
    public IKernelBackend Create(ParseResult parsed) => Create(parsed, Names(parsed).Single());

    /// <summary>Creates backend <paramref name="name"/> with the command line's <c>--device</c> when it is ilgpu.</summary>
    public IKernelBackend Create(ParseResult parsed, string name)
        => KernelBackendFactory.Create(name, name == "ilgpu" ? parsed.GetValue(Device) : null);
}
