using System.Reflection;
using System.Text.RegularExpressions;
using CurvNative.Kernels.Gpu;
using ILGPU;
using ILGPU.Backends;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.OpenCL;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;
using Xunit;

namespace CurvNative.Kernels.Tests;

/// <summary>
/// Every kernel compiled by ILGPU's PTX (CUDA) and OpenCL C backends, which need no device: what the CPU accelerator
/// tolerates and a GPU does not (a shared-memory size that is not a compile-time constant, an unsupported construct)
/// fails here, and the shared memory each declares is checked against the launch configuration's budget. The PTX also shows the register-blocked GEMM's 4 x 4 accumulators stay in registers (no local memory).
/// </summary>
public class GpuCompileTests
{
    private static readonly Type[] Tiles = [typeof(Tile4), typeof(Tile8), typeof(Tile16)];
    private static readonly (Type T, Type Ops, int Size)[] Elements = [(typeof(float), typeof(F32Ops), 4), (typeof(double), typeof(F64Ops), 8)];

    private static IEnumerable<(string Name, EntryPointDescription Entry, int SharedBytes)> Kernels()
    {
        foreach (var (t, ops, size) in Elements)
        {
            foreach (var tile in Tiles)
            {
                int edge = ((ITileEdge)Activator.CreateInstance(tile)!).Edge;
                yield return ($"Gemm<{t.Name}, {tile.Name}>", Explicit(nameof(GemmKernels.Gemm), typeof(GemmKernels), t, ops, tile), GemmKernels.SimpleSharedElements(edge) * size);
                yield return ($"GemmBlocked<{t.Name}, {tile.Name}>", Explicit(nameof(GemmKernels.GemmBlocked), typeof(GemmKernels), t, ops, tile), GemmKernels.BlockedSharedElements(edge) * size);
            }
            yield return ($"Activate<{t.Name}>", Implicit(typeof(TaylorKernels), nameof(TaylorKernels.Activate), t, ops), 0);
            yield return ($"Broadcast<{t.Name}>", Implicit(typeof(TaylorKernels), nameof(TaylorKernels.Broadcast), t), 0);
            yield return ($"Identity<{t.Name}>", Implicit(typeof(TaylorKernels), nameof(TaylorKernels.Identity), t, ops), 0);
            yield return ($"AddDiagonal<{t.Name}>", Implicit(typeof(WoodburyKernels), nameof(WoodburyKernels.AddDiagonal), t, ops), 0);
            yield return ($"Symmetrize<{t.Name}>", Implicit(typeof(GemmKernels), nameof(GemmKernels.Symmetrize), t), 0);
        }
    }

    private static EntryPointDescription Explicit(string name, Type owner, params Type[] args)
        => EntryPointDescription.FromExplicitlyGroupedKernel(owner.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.MakeGenericMethod(args));

    private static EntryPointDescription Implicit(Type owner, string name, params Type[] args)
        => EntryPointDescription.FromImplicitlyGroupedKernel(owner.GetMethod(name, BindingFlags.Public | BindingFlags.Static)!.MakeGenericMethod(args));

    [Fact]
    public void Every_kernel_compiles_to_PTX_with_constant_shared_memory_and_no_local_memory()
    {
        using var context = Context.Create(b => b.EnableAlgorithms());
        var arch = CudaArchitecture.SM_70;
        using var backend = new PTXBackend(context, new CudaCapabilityContext(arch), arch, CudaInstructionSet.ISA_70, null);
        foreach (var (name, entry, shared) in Kernels())
        {
            var ptx = ((PTXCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty)).PTXAssembly;
            int total = Regex.Matches(ptx, @"\.shared \.align \d+ \.b8 \w+\[(\d+)\]").Sum(m => int.Parse(m.Groups[1].Value));
            Assert.True(total == shared, $"{name}: {total} bytes of static shared memory in the PTX, expected {shared}");
            if (name.StartsWith("Gemm", StringComparison.Ordinal)) Assert.True(!ptx.Contains(".local", StringComparison.Ordinal), $"{name}: the PTX uses local memory");
        }
    }

    [Fact]
    public void Every_kernel_compiles_to_OpenCL_C()
    {
        using var context = Context.Create(b => b.EnableAlgorithms());
        var caps = new CLCapabilityContext(float16: false, float64: true, genericAddressSpace: true, int64_Atomics: false, subGroups: false);
        using var backend = new CLBackend(context, caps, CLDeviceVendor.Other, CLCVersion.CL20);
        foreach (var (name, entry, shared) in Kernels())
        {
            var source = ((CLCompiledKernel)backend.Compile(entry, KernelSpecialization.Empty)).Source;
            Assert.True(source.Contains("kernel void", StringComparison.Ordinal), $"{name}: no kernel in the OpenCL C");
            int total = Regex.Matches(source, @"local (float|double) \w+\[(\d+)\];").Sum(m => int.Parse(m.Groups[2].Value) * (m.Groups[1].Value == "double" ? 8 : 4));
            Assert.True(total == shared, $"{name}: {total} bytes of local (shared) memory in the OpenCL C, expected {shared}");
        }
    }
}
