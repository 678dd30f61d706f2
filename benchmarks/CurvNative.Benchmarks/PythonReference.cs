using System.ComponentModel;
using System.Diagnostics;

namespace CurvNative.Benchmarks;

/// <summary>
/// The PyTorch side of the tables: scripts under tools/ run by the system python with Debian's python3-torch
/// (benchmarks/run.sh installs it through scripts/install-deps.sh --bench). Before a mode measures anything it asks
/// <see cref="Use"/> whether the interpreter can import what the scripts need; when it cannot, the mode says so in
/// one line on stderr and leaves the PyTorch column out instead of failing halfway with a Python traceback.
/// </summary>
internal static class PythonReference
{
    public const string DefaultPython = "/usr/bin/python3";

    /// <summary>False when <paramref name="noTorch"/> was asked for or <paramref name="python"/> cannot import
    /// <paramref name="modules"/> (then one line on stderr names the mode, the reason and the fix).</summary>
    public static bool Use(bool noTorch, string python, string mode, params string[] modules)
    {
        if (noTorch) return false;
        if (Unavailable(python, modules) is not { } reason) return true;
        Console.Error.WriteLine($"{mode}: the PyTorch column is skipped: {reason}; install it with 'bash scripts/install-deps.sh --bench' (Debian's python3-torch), or pass --no-torch.");
        return false;
    }

    /// <summary>Null when <paramref name="python"/> imports every module; else the reason, one line.</summary>
    private static string? Unavailable(string python, string[] modules)
    {
        var psi = new ProcessStartInfo(python) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("import " + string.Join(", ", modules));
        try
        {
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return p.ExitCode == 0 ? null : $"{python} cannot import {string.Join(", ", modules)} ({LastLine(stderr.Result)})";
        }
        catch (Win32Exception)
        {
            return $"{python} was not found";
        }
    }

    /// <summary>Runs tools/<paramref name="script"/> with <paramref name="args"/> in the repository root and
    /// returns its stdout; a non-zero exit is an exception naming the script, the code and its last stderr line.</summary>
    public static string Run(string python, string root, string script, params string[] args)
    {
        var psi = new ProcessStartInfo(python) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
        psi.ArgumentList.Add(Path.Combine(root, "tools", script));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        // stderr is echoed (progress lines of the scripts) and its last line kept for the error message.
        string last = "";
        p.ErrorDataReceived += (_, e) =>
        {
            if (string.IsNullOrWhiteSpace(e.Data)) return;
            Console.Error.WriteLine(e.Data);
            last = e.Data;
        };
        p.BeginErrorReadLine();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{python} tools/{script} exited with {p.ExitCode}: {last}");
        return output;
    }

    private static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no message";
}
